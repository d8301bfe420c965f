// The lab's answers, kept in this browser's localStorage so they survive a reload
// or a closed tab. Python (seglib_components/browser.py) mounts this with
//   data = {mode: "load", storage_key}            -> reply once with what is stored
//   data = {mode: "save", storage_key, payload}   -> keep payload (a JSON string)
// Nothing leaves the browser: no network, no other storage.
export default function (component) {
  const { data, setStateValue } = component;
  if (!data || typeof data.storage_key !== "string") {
    return;
  }
  let storage = null;
  try {
    storage = window.localStorage;
  } catch (error) {
    storage = null; // blocked (private mode, policy): the answers stay in the session only
  }
  if (data.mode === "load") {
    let value = null;
    try {
      value = storage ? storage.getItem(data.storage_key) : null;
    } catch (error) {
      value = null;
    }
    setStateValue("stored", { value: value, available: storage !== null });
  } else if (data.mode === "save" && typeof data.payload === "string" && storage !== null) {
    try {
      storage.setItem(data.storage_key, data.payload);
    } catch (error) {
      // storage full or blocked: the answers stay in the session and in the download
    }
  }
}
