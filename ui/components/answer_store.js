// The lab's answers, kept in this browser's localStorage so they survive a reload
// or a closed tab (or, with per_tab, a value in this tab's sessionStorage: it survives
// a reload of the tab and ends with it). Python (ui/components/browser.py) mounts this with
//   data = {mode: "load", storage_key, per_tab}            -> reply once with what is stored
//   data = {mode: "save", storage_key, per_tab, payload}   -> keep payload (a string)
// Nothing leaves the browser: no network, no other storage.
export default function (component) {
  const { data, setStateValue } = component;
  if (!data || typeof data.storage_key !== "string") {
    return;
  }
  let storage = null;
  try {
    storage = data.per_tab ? window.sessionStorage : window.localStorage;
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
