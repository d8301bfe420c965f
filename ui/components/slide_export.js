// Figures for slides. In the toolbar of every Plotly chart of the page, the camera button downloads
// the chart as a slide (PNG, data.pixelWidth wide, with a caption line under it) and a button beside
// it the same slide as SVG. The numbers come from seglib.figures.slides.slide_spec, and slideSize
// is seglib.figures.slides.picture_size (the chart keeps its proportions on the page, within the
// slide); the caption and the file name come from the chart's own config
// (toImageButtonOptions.caption and .filename, set by ui.drawing.chart_config), else data.caption
// (the sidebar's selection).
//
// Everything runs in the viewer's browser, with Plotly.js's own toImage, and only on a click: the
// server does no export work. Streamlit's Plotly bundle defines window.Plotly once a chart has been
// drawn; Streamlit's JSON config cannot carry a custom toolbar button (it needs a JavaScript click
// function), hence the button added here. Without window.Plotly the camera button keeps Plotly's
// own download (a slide-sized PNG from toImageButtonOptions, without the caption line).
const NS = "http://www.w3.org/2000/svg";
const MESSAGE_MS = 6000;

function cameraButton(graph) {
  for (const button of graph.querySelectorAll(".modebar-btn")) {
    const title = button.getAttribute("data-title") || "";
    if (button.dataset.seglibSlide === "png" || title.startsWith("Download plot")) {
      return button;
    }
  }
  return null;
}

function addButtons(graph, spec) {
  const camera = cameraButton(graph);
  if (!camera || camera.dataset.seglibSlide) {
    return;
  }
  camera.dataset.seglibSlide = "png";
  camera.setAttribute("data-title", `Download for a slide: PNG, ${spec.pixelWidth} px wide, with caption`);
  const button = document.createElement("a");
  button.className = "modebar-btn";
  button.setAttribute("rel", "tooltip");
  button.setAttribute("data-title", "Download for a slide: SVG, with caption");
  button.dataset.seglibSlide = "svg";
  const icon = document.createElementNS(NS, "svg");
  icon.setAttribute("viewBox", "0 0 30 16");
  icon.setAttribute("height", "1em");
  icon.setAttribute("width", "1.9em");
  icon.setAttribute("class", "icon");
  const text = document.createElementNS(NS, "text");
  text.setAttribute("x", "0");
  text.setAttribute("y", "13");
  text.setAttribute("font-size", "13");
  text.setAttribute("font-weight", "bold");
  text.setAttribute("font-family", "arial, sans-serif");
  const path = camera.querySelector("path");
  text.setAttribute("fill", (path && getComputedStyle(path).fill) || "rgba(68, 68, 68, 0.5)");
  text.textContent = "SVG";
  icon.appendChild(text);
  button.appendChild(icon);
  // A group of its own beside the camera's: Plotly sizes a group for the buttons it made.
  const group = document.createElement("div");
  group.className = camera.parentElement.className;
  group.appendChild(button);
  camera.parentElement.after(group);
}

function slideSize(graph, spec) {
  const box = graph.getBoundingClientRect();
  const aspect = box.width > 0 && box.height > 0 ? box.height / box.width : 0;
  const chartHeight = aspect > 0
    ? Math.min(spec.maxChartHeight, Math.max(spec.minChartHeight, Math.round(spec.layoutWidth * aspect)))
    : spec.maxChartHeight;
  const layoutHeight = chartHeight + spec.captionBand;
  return { chartHeight, layoutHeight, pixelHeight: Math.round(layoutHeight * spec.scale) };
}

function composeSlide(chartSvg, caption, spec, size) {
  const chart = new DOMParser().parseFromString(chartSvg, "image/svg+xml").documentElement;
  const slide = document.implementation.createDocument(NS, "svg", null);
  const root = slide.documentElement;
  root.setAttributeNS("http://www.w3.org/2000/xmlns/", "xmlns:xlink", "http://www.w3.org/1999/xlink");
  root.setAttribute("width", String(spec.pixelWidth));
  root.setAttribute("height", String(size.pixelHeight));
  root.setAttribute("viewBox", `0 0 ${spec.layoutWidth} ${size.layoutHeight}`);
  const background = slide.createElementNS(NS, "rect");
  background.setAttribute("width", String(spec.layoutWidth));
  background.setAttribute("height", String(size.layoutHeight));
  background.setAttribute("fill", "#ffffff");
  root.appendChild(background);
  const placed = slide.importNode(chart, true);
  placed.setAttribute("x", "0");
  placed.setAttribute("y", "0");
  placed.setAttribute("viewBox", `0 0 ${spec.layoutWidth} ${size.chartHeight}`);
  placed.setAttribute("width", String(spec.layoutWidth));
  placed.setAttribute("height", String(size.chartHeight));
  root.appendChild(placed);
  const line = slide.createElementNS(NS, "text");
  line.setAttribute("class", "slide-caption");
  line.setAttribute("x", String(spec.captionX));
  line.setAttribute("y", String(size.chartHeight + spec.captionBaselineOffset));
  line.setAttribute("font-family", spec.captionFontFamily);
  line.setAttribute("font-size", String(spec.captionFontSize));
  line.setAttribute("fill", spec.captionColor);
  line.textContent = caption;
  root.appendChild(line);
  return new XMLSerializer().serializeToString(slide);
}

function rasterize(svgText, width, height) {
  // As Plotly.js draws its own PNGs: the SVG as an image, painted on a canvas.
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext("2d");
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, width, height);
      context.drawImage(image, 0, 0, width, height);
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas gave no PNG"))), "image/png");
    };
    image.onerror = () => reject(new Error("the browser could not draw the slide's SVG"));
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svgText);
  });
}

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function say(graph, text) {
  const note = document.createElement("div");
  note.setAttribute("role", "status");
  note.className = "seglib-slide-message";
  note.style.cssText = "position:absolute;right:8px;top:36px;z-index:1001;max-width:360px;padding:6px 10px;"
    + "background:#fff3cd;color:#5c4400;border:1px solid #e0c36c;border-radius:4px;font:13px sans-serif;";
  note.textContent = text;
  graph.appendChild(note);
  window.setTimeout(() => note.remove(), MESSAGE_MS);
}

async function exportSlide(graph, format, spec) {
  const options = (graph._context && graph._context.toImageButtonOptions) || {};
  const caption = options.caption || spec.caption || "";
  const filename = `${options.filename || "figure"}.${format}`;
  const size = slideSize(graph, spec);
  const layout = Object.assign({}, graph.layout, {
    width: spec.layoutWidth, height: size.chartHeight, autosize: false,
  });
  const chartSvg = await window.Plotly.toImage(
    { data: graph.data, layout, config: { staticPlot: true } },
    { format: "svg", width: spec.layoutWidth, height: size.chartHeight, imageDataOnly: true },
  );
  const slideSvg = composeSlide(chartSvg, caption, spec, size);
  if (format === "svg") {
    save(new Blob([slideSvg], { type: "image/svg+xml" }), filename);
  } else {
    save(await rasterize(slideSvg, spec.pixelWidth, size.pixelHeight), filename);
  }
}

function install(state) {
  document.addEventListener("mouseover", (event) => {
    const graph = event.target.closest && event.target.closest(".js-plotly-plot");
    if (graph) {
      addButtons(graph, state.spec);
    }
  }, true);
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".modebar-btn[data-seglib-slide]");
    const graph = button && button.closest(".js-plotly-plot");
    if (!graph) {
      return;
    }
    const format = button.dataset.seglibSlide;
    if (!window.Plotly || typeof window.Plotly.toImage !== "function") {
      if (format === "svg") {
        say(graph, "The SVG download needs the page's chart library, which did not load; the camera button "
          + "still downloads a PNG.");
      }
      return; // the camera button keeps Plotly's own PNG download
    }
    event.preventDefault();
    event.stopPropagation(); // captured before Plotly's own handler of the camera button
    exportSlide(graph, format, state.spec).catch((error) => {
      say(graph, `The slide could not be drawn (${error && error.message ? error.message : error}).`);
    });
  }, true);
}

export default function (component) {
  // Once per browser tab: a component drawn again (every page run) only hands over its data, so a
  // click never downloads twice.
  const state = window.__seglibSlideExport || (window.__seglibSlideExport = {});
  state.spec = component.data || {};
  if (!state.installed) {
    state.installed = true;
    install(state);
  }
}
