"""The dashboard's pages in one table: file, title, URL path, icon, summary and the exercises
each answers, with the navigation and the links between pages built from it.

The exercises of a page are read from the lab's own links (``seglib.lab.exercises``),
so the table that says where each exercise is answered exists once.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import streamlit as st

DASHBOARD_DIR = Path(__file__).resolve().parent.parent
PAGES_DIR = DASHBOARD_DIR / "pages"


@functools.lru_cache(maxsize=None)
def _exercises_by_page() -> dict[str, tuple[str, ...]]:
    from seglib.lab import exercises as ex

    found: dict[str, list[str]] = {}
    for exercise in ex.build_exercises({}):
        for page in dict.fromkeys(link.page for link in exercise.links):
            found.setdefault(page, []).append(exercise.key)
    return {page: tuple(keys) for page, keys in found.items()}


@dataclasses.dataclass(frozen=True)
class PageInfo:
    """One page: its file under ``pages/``, navigation title, icon and what it is for."""

    file: str
    title: str
    icon: str
    summary: str       #: what the page is for, in one sentence (Home's list of the lab's steps shows it)
    heading: str = ""  #: the page's own title when it differs from the navigation's
    step: bool = True  #: one of the lab's steps, listed in order on Home (Home and Classroom are not)

    @property
    def url_path(self) -> str:
        """The page's URL path: its file name without ``.py`` (``/dataset``)."""
        return Path(self.file).stem

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def page_title(self) -> str:
        return self.heading or self.title

    @property
    def exercises(self) -> tuple[str, ...]:
        """The exercises with a link to this page, in order."""
        return _exercises_by_page().get(self.file, ())


#: Every planned page, in navigation order. A page appears in the navigation
#: as soon as its file exists, so new pages need no edit of ``dashboard.py``.
PLANNED_PAGES: tuple[PageInfo, ...] = (
    PageInfo("home.py", "Home", ":material/home:",
             "What semantic segmentation is and how this lab is organised.", heading="Semantic segmentation lab",
             step=False),
    PageInfo("dataset.py", "Dataset explorer", ":material/photo_library:",
             "Images and colour masks, class imbalance and the scales of people and parts."),
    PageInfo("model.py", "Model", ":material/account_tree:",
             "DeepLabV3+ layer by layer: backbone, ASPP, decoder and the H × W × 20 output."),
    PageInfo("atrous.py", "Atrous scales", ":material/blur_on:",
             "How atrous (dilated) convolutions at several rates see a real image."),
    PageInfo("training.py", "Training", ":material/monitoring:",
             "Start a run and watch loss and accuracy curves for training and validation."),
    PageInfo("predictions.py", "Predictions", ":material/image_search:",
             "Ground truth, prediction and their difference; logits of a single pixel."),
    PageInfo("playground.py", "Metric playground", ":material/tune:",
             "A made-up prediction of a real mask: what pixel accuracy, mean IoU, the average error and "
             "the losses each notice."),
    PageInfo("exercises.py", "Exercises", ":material/school:",
             "The six questions of the lab and where the dashboard answers them."),
    PageInfo("classroom.py", "Classroom", ":material/groups:",
             "The instructor asks the room; everyone answers on their own device; the board shows the answers.",
             step=False),
)


def available_pages() -> list[PageInfo]:
    """The planned pages whose files exist, in navigation order."""
    return [page for page in PLANNED_PAGES if page.exists]


def page_info(file: str) -> PageInfo:
    """The page of ``file`` ('dataset.py'); KeyError listing the valid files for any other name."""
    for page in PLANNED_PAGES:
        if page.file == file:
            return page
    raise KeyError(f"No page {file!r}; the pages are {[page.file for page in PLANNED_PAGES]}.")


def navigation_pages() -> list:
    """``st.Page`` objects for ``st.navigation`` (Home is the default page)."""
    return [
        st.Page(str(page.path.relative_to(DASHBOARD_DIR)), title=page.title, icon=page.icon,
                url_path=page.url_path, default=(page.file == "home.py"))
        for page in available_pages()
    ]


def page_link(file: str, label: str | None = None, params: dict[str, str] | None = None) -> None:
    """A link to another page of the dashboard, only if that page exists.

    ``params`` become the target's query parameters, which preselect the view
    there (``{"image": "3"}`` on Predictions); the sidebar's dataset, model and
    palette follow from the session. When the page runs outside the navigation
    (a page script on its own), the link is plain Markdown to the same URL.
    """
    info = page_info(file)
    if not info.exists:
        return
    label = label or info.title
    try:
        st.page_link(str(info.path.relative_to(DASHBOARD_DIR)), label=label, icon=info.icon,
                     query_params=params or None)
    except st.errors.StreamlitAPIException:
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        st.markdown(f"[{label}](/{info.url_path}{query})")
