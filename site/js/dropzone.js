// The image drop zone: a real file input (keyboard and screen readers use it as is) inside a zone
// that also takes a dropped or pasted file; the file is checked here before any upload (type,
// size, pixel size: the API's limits) and previewed.

import { formatBytes } from "./util.js";

export const MAX_BYTES = 10 * 1024 * 1024;
export const MAX_SIDE = 4096;
const TYPES = { "image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP" };
const EXTENSIONS = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp" };

function typeOf(file) {
  if (file.type) return file.type;
  const extension = (file.name.split(".").pop() || "").toLowerCase();
  return EXTENSIONS[extension] || "";
}

async function pixelSize(file) {
  if ("createImageBitmap" in window) {
    const bitmap = await createImageBitmap(file);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close?.();
    return size;
  }
  const url = URL.createObjectURL(file);
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    return { width: image.naturalWidth, height: image.naturalHeight };
  } finally {
    URL.revokeObjectURL(url);
  }
}

// -> null when the file is fine, else the sentence that says why not.
export async function checkImage(file) {
  const type = typeOf(file);
  if (!TYPES[type]) {
    const shown = type ? type.replace(/^image\//, "").toUpperCase() : "not an image";
    return `That file is ${shown === "not an image" ? "not an image" : `a ${shown}`}. Use a PNG, JPEG or WebP image.`;
  }
  if (file.size > MAX_BYTES) return `That image is ${formatBytes(file.size)}; the limit is 10 MB.`;
  if (file.size === 0) return "That file is empty.";
  let size;
  try {
    size = await pixelSize(file);
  } catch {
    return "That file could not be read as an image. Use a PNG, JPEG or WebP image.";
  }
  if (size.width > MAX_SIDE || size.height > MAX_SIDE) {
    return `That image is ${size.width}×${size.height} pixels; the limit is ${MAX_SIDE}×${MAX_SIDE}.`;
  }
  return null;
}

export class DropZone {
  constructor(root, { onChange, onError }) {
    this.root = root;
    this.input = root.querySelector("input[type=file]");
    this.preview = root.querySelector("[data-preview]");
    this.previewImage = root.querySelector("[data-preview-image]");
    this.previewName = root.querySelector("[data-preview-name]");
    this.clearButton = root.querySelector("[data-clear]");
    this.onChange = onChange;
    this.onError = onError;
    this.file = null;
    this.url = null;
    this.input.addEventListener("change", () => {
      if (this.input.files && this.input.files[0]) this.take(this.input.files[0]);
    });
    this.clearButton.addEventListener("click", () => {
      this.clear();
      this.input.focus();
    });
    for (const name of ["dragenter", "dragover"]) {
      root.addEventListener(name, (event) => {
        if (!event.dataTransfer?.types?.includes("Files")) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        root.classList.add("is-dragging");
      });
    }
    for (const name of ["dragleave", "dragend", "drop"]) {
      root.addEventListener(name, (event) => {
        if (name === "dragleave" && root.contains(event.relatedTarget)) return;
        root.classList.remove("is-dragging");
      });
    }
    root.addEventListener("drop", (event) => {
      const file = event.dataTransfer?.files?.[0];
      if (!file) return;
      event.preventDefault();
      this.take(file);
    });
  }

  // A file pasted anywhere on the page while an image mode is shown.
  paste(event) {
    const file = Array.from(event.clipboardData?.files || []).find((f) => f.type.startsWith("image/"));
    if (!file) return false;
    this.take(file);
    return true;
  }

  async take(file) {
    const problem = await checkImage(file);
    if (problem) {
      this.clear({ silent: true });
      this.onError(problem);
      return;
    }
    this.set(file);
  }

  set(file) {
    if (this.url) URL.revokeObjectURL(this.url);
    this.file = file;
    this.url = URL.createObjectURL(file);
    this.previewImage.src = this.url;
    this.previewImage.alt = `Preview of ${file.name || "the chosen image"}`;
    this.previewName.textContent = `${file.name || "image"} · ${formatBytes(file.size)}`;
    this.preview.hidden = false;
    this.root.classList.add("has-file");
    this.onError(null);
    this.onChange(file);
  }

  clear({ silent = false } = {}) {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
    this.file = null;
    this.input.value = "";
    this.previewImage.removeAttribute("src");
    this.preview.hidden = true;
    this.root.classList.remove("has-file");
    if (!silent) this.onError(null);
    this.onChange(null);
  }
}
