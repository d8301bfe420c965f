// Fetch and run the dashboard's own chart and table code while the browser is idle, so the
// first page with a chart does not wait for it. Streamlit loads the code of a Plotly chart
// (4.7 MB), a table or a code listing only when the first such element appears; on a first
// visit the browser spent 2-3 s of a 3 s page open compiling it after the click. data.files
// names those files in Streamlit's own build (next to its main script); importing the same
// URL as Streamlit's lazy import shares the module, so the page later finds it ready.
export default function (component) {
  const { data } = component;
  const files = data && Array.isArray(data.files) ? data.files : [];
  if (!files.length || window.__seglibPreloaded) {
    return;
  }
  window.__seglibPreloaded = true;
  const main = document.querySelector('script[type="module"][src*="/static/js/index."]');
  const base = main ? main.src : new URL("static/js/", document.baseURI).href;
  const idle = window.requestIdleCallback || ((callback) => window.setTimeout(callback, 200));
  let next = 0;
  const load = () => {
    if (next >= files.length) {
      return;
    }
    const url = new URL(files[next], base).href;
    next += 1;
    import(url).catch(() => {}).finally(() => idle(load, { timeout: 5000 }));
  };
  idle(load, { timeout: 5000 });
}
