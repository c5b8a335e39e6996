// Draw every part, then record how long that took on <html>, where tests and scripts read it:
// data-render-ms from this script's start (the data's parsing included), data-ready-ms from the
// start of the page's loading; the layout is forced first so that both include it.

renderHeader();
renderGates();
setupTimeline();
renderConcurrency();
setupGraph();
setupTable();
void document.body.offsetHeight;
const now = performance.now();
document.documentElement.dataset.renderMs = (now - T0).toFixed(1);
document.documentElement.dataset.readyMs = now.toFixed(1);
document.documentElement.dataset.ready = "1";

let resizing = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    renderTimeline();
    renderConcurrency();
  }, 150);
});
