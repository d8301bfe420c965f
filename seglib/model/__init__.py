"""Models: DeepLabV3+ in the four stages the Model page teaches, and describing, saving and loading it.

``backbones`` (stage 1: the cut table, building the backbone, where its weights come from),
``aspp`` (stage 2), ``decoder`` (stage 3) and ``head`` (stage 4), with ``blocks`` (the conv block
the ASPP and decoder share); ``deeplab`` assembles them (``build_model``). ``imagenet`` and
``pretrained`` are the backbone's weight files (Keras's cache; the project's own in
``assets/pretrained``, made by ``seglib.training.pretrain``), ``summary`` the layer tables,
``saving`` the ``.keras`` files.
"""
