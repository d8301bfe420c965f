// Scroll the page to the heading whose id is data.anchor (an exercise link's
// section), once it is drawn. Streamlit draws a page from top to bottom and
// figures above the heading may still grow, so the heading is kept at the top
// for a few seconds after it appears, unless the reader scrolls first.
export default function (component) {
  const { data } = component;
  const anchor = data && typeof data.anchor === "string" ? data.anchor : "";
  if (!anchor) {
    return;
  }
  const TICK_MS = 250;
  const GIVE_UP_TICKS = 240; // 60 s: a slow page (a model loading) still gets there
  const HOLD_TICKS = 24; // keep it in place for 6 s once found
  let ticks = 0;
  let foundAt = -1;
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  const events = ["wheel", "touchmove", "keydown", "mousedown"];
  events.forEach((name) => window.addEventListener(name, stop, { passive: true }));
  const timer = window.setInterval(() => {
    ticks += 1;
    const target = document.getElementById(anchor);
    if (target && foundAt < 0) {
      foundAt = ticks;
    }
    if (stopped || ticks > GIVE_UP_TICKS || (foundAt >= 0 && ticks - foundAt > HOLD_TICKS)) {
      window.clearInterval(timer);
      return;
    }
    if (target && Math.abs(target.getBoundingClientRect().top) > 4) {
      target.scrollIntoView({ block: "start" });
    }
  }, TICK_MS);
  return () => {
    window.clearInterval(timer);
    events.forEach((name) => window.removeEventListener(name, stop));
  };
}
