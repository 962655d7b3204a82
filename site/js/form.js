// The compose form: mode tabs (WAI-ARIA tabs: arrows, Home, End), the prompt and its live count,
// the drop zone, the advanced options per mode, field errors, and the request body of a mode.

import { DropZone } from "./dropzone.js";
import { $, characterCount, el } from "./util.js";

export const MAX_PROMPT = 4000;
const ASPECTS = [
  ["1:1", "Square"], ["16:9", "Wide"], ["9:16", "Tall"], ["4:3", ""], ["3:4", ""],
  ["3:2", ""], ["2:3", ""], ["21:9", "Cinema"], ["9:21", ""],
];
export const MODES = {
  "text-to-image": {
    fields: ["aspect", "seed", "negative"], aspect: "1:1", multipart: false,
    placeholder: "A red fox curled up in fresh snow, soft morning light",
  },
  "image-to-image": {
    fields: ["image", "strength", "seed", "negative"], multipart: true,
    placeholder: "The same scene at night, lit by paper lanterns",
  },
  "text-to-video": {
    fields: ["aspect", "duration", "seed", "negative"], aspect: "16:9", multipart: false,
    placeholder: "Waves rolling onto a quiet beach at sunset",
  },
  "image-to-video": {
    fields: ["image", "duration", "seed", "negative"], multipart: true,
    placeholder: "The clouds drift slowly while the camera pans right",
  },
  text: {
    fields: [], multipart: false,
    placeholder: "An idea to turn into a richer prompt, or a question",
  },
};
const FIELD_IDS = {
  image: "image-field", aspect: "aspect-field", strength: "strength-field",
  duration: "duration-field", seed: "seed-field", negative: "negative-field",
};

export class ComposeForm {
  constructor({ onSubmit, onModeChange }) {
    this.form = $("#compose-form");
    this.tabs = Array.from(document.querySelectorAll("#mode-tabs [role=tab]"));
    this.prompt = $("#prompt");
    this.count = $("#prompt-count");
    this.limitNote = $("#prompt-limit");
    this.seed = $("#seed");
    this.negative = $("#negative");
    this.strength = $("#strength");
    this.duration = $("#duration");
    this.generate = $("#generate");
    this.onSubmit = onSubmit;
    this.onModeChange = onModeChange;
    this.aspects = {};
    this.mode = "text-to-image";
    this.busy = false;
    this.blockedReason = null;
    this.lastLimitState = "";

    this.dropzone = new DropZone($("#dropzone"), {
      onChange: () => this.setFieldError("image", null),
      onError: (message) => this.setFieldError("image", message),
    });
    this.buildAspectChips();
    this.bindTabs();
    this.prompt.addEventListener("input", () => this.updateCount());
    this.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.strength.addEventListener("input", () => {
      $("#strength-value").textContent = Number(this.strength.value).toFixed(2);
    });
    this.duration.addEventListener("input", () => {
      $("#duration-value").textContent = `${this.duration.value} s`;
      this.duration.setAttribute("aria-valuetext", `${this.duration.value} seconds`);
    });
    this.seed.addEventListener("input", () => this.setFieldError("seed", null));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.generate.getAttribute("aria-disabled") === "true") {
        if (this.blockedReason) this.limitNote.textContent = this.blockedReason;
        return;
      }
      this.onSubmit();
    });
    document.addEventListener("paste", (event) => {
      if (MODES[this.mode].fields.includes("image") && this.dropzone.paste(event)) event.preventDefault();
    });
    const fromHash = window.location.hash.slice(1);
    this.setMode(MODES[fromHash] ? fromHash : "text-to-image", { focus: false, updateHash: false });
    this.updateCount();
  }

  // ---- tabs ------------------------------------------------------------------------------------

  bindTabs() {
    this.tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => this.setMode(tab.dataset.mode));
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: index + 1, ArrowDown: index + 1, ArrowLeft: index - 1, ArrowUp: index - 1, Home: 0, End: this.tabs.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        const next = this.tabs[(moves[event.key] + this.tabs.length) % this.tabs.length];
        this.setMode(next.dataset.mode); // automatic activation: the panel is the same form
      });
    });
  }

  setMode(mode, { focus = true, updateHash = true } = {}) {
    const config = MODES[mode];
    if (!config) return;
    const previous = this.mode;
    this.mode = mode;
    for (const tab of this.tabs) {
      const selected = tab.dataset.mode === mode;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      if (selected && focus) tab.focus();
    }
    this.form.setAttribute("aria-labelledby", `tab-${mode}`);
    this.form.dataset.mode = mode;
    for (const [name, id] of Object.entries(FIELD_IDS)) $(`#${id}`).hidden = !config.fields.includes(name);
    $("#advanced").hidden = !config.fields.some((name) => name !== "image");
    this.prompt.placeholder = config.placeholder;
    if (config.aspect) this.selectAspect(this.aspects[mode] || config.aspect);
    if (updateHash && previous !== mode) history.replaceState(null, "", `#${mode}`);
    this.onModeChange?.(mode);
  }

  // ---- fields ----------------------------------------------------------------------------------

  buildAspectChips() {
    const box = $("#aspect-chips");
    for (const [ratio, name] of ASPECTS) {
      const [w, h] = ratio.split(":").map(Number);
      const scale = 18 / Math.max(w, h);
      const shape = el("span", { class: "aspect-shape", "aria-hidden": "true" });
      shape.style.width = `${Math.round(w * scale)}px`; // CSSOM: the page's CSP allows no style attributes
      shape.style.height = `${Math.round(h * scale)}px`;
      const input = el("input", { type: "radio", name: "aspect_ratio", value: ratio, id: `aspect-${ratio.replace(":", "x")}` });
      input.addEventListener("change", () => {
        if (input.checked) this.aspects[this.mode] = ratio;
      });
      box.append(el("label", { class: "chip", for: input.id }, input, shape,
        el("span", { text: ratio }), name ? el("span", { class: "sr-only", text: ` (${name.toLowerCase()})` }) : null));
    }
  }

  selectAspect(ratio) {
    const input = document.getElementById(`aspect-${ratio.replace(":", "x")}`);
    if (input) input.checked = true;
  }

  updateCount() {
    const count = characterCount(this.prompt.value);
    const over = count > MAX_PROMPT;
    this.count.textContent = `${count.toLocaleString("en")} / ${MAX_PROMPT.toLocaleString("en")}`;
    this.count.classList.toggle("is-over", over);
    this.count.classList.toggle("is-near", !over && count > MAX_PROMPT * 0.9);
    // Told to screen readers only when the state changes (near the limit, over it), never per key.
    const state = over ? "over" : count > MAX_PROMPT * 0.9 ? "near" : "";
    if (state !== this.lastLimitState) {
      this.lastLimitState = state;
      this.limitNote.textContent = over
        ? `The prompt is ${count - MAX_PROMPT} characters over the 4000 limit.`
        : state === "near" ? `${MAX_PROMPT - count} characters left.` : "";
    }
    if (over) this.setFieldError("prompt", `The prompt is ${(count - MAX_PROMPT).toLocaleString("en")} characters over the limit of 4,000.`);
    else if (this.prompt.hasAttribute("aria-invalid")) this.setFieldError("prompt", null);
  }

  setFieldError(field, message) {
    const map = { prompt: ["prompt", "prompt-error"], image: ["image-input", "image-error"], seed: ["seed", "seed-error"] };
    const [inputId, errorId] = map[field] || [];
    if (!inputId) return;
    const input = document.getElementById(inputId);
    const error = document.getElementById(errorId);
    if (message) {
      input.setAttribute("aria-invalid", "true");
      error.textContent = message;
      error.hidden = false;
    } else {
      input.removeAttribute("aria-invalid");
      error.textContent = "";
      error.hidden = true;
    }
    if (field === "image") $("#dropzone").classList.toggle("is-invalid", Boolean(message));
  }

  // API field errors ({prompt: "...", seed: "..."}): shown, and the first one focused.
  showFieldErrors(fields) {
    let first = null;
    for (const [field, message] of Object.entries(fields)) {
      const name = field === "duration_seconds" ? "duration" : field;
      this.setFieldError(name, message);
      if (!first) first = { prompt: this.prompt, seed: this.seed, image: $("#image-input") }[name];
    }
    if (first === this.seed) $("#advanced").open = true;
    first?.focus();
  }

  // -> {ok: true, request: {path, json|form, prompt}} or {ok: false} after showing what is wrong.
  read() {
    const config = MODES[this.mode];
    const prompt = this.prompt.value.trim();
    const problems = [];
    const count = characterCount(this.prompt.value);
    if (!prompt) problems.push(["prompt", "Write a prompt first.", this.prompt]);
    else if (count > MAX_PROMPT) problems.push(["prompt", `The prompt is ${count - MAX_PROMPT} characters over the limit of 4,000.`, this.prompt]);
    if (config.fields.includes("image") && !this.dropzone.file) problems.push(["image", "Choose an image first: drop it here or pick a file.", $("#image-input")]);
    let seed = null;
    if (config.fields.includes("seed") && this.seed.value.trim() !== "") {
      seed = Number(this.seed.value);
      if (!Number.isInteger(seed) || seed < 0 || seed > 4294967294) {
        problems.push(["seed", "The seed is a whole number from 0 to 4,294,967,294 (or leave it empty).", this.seed]);
      }
    }
    if (this.seed.validity.badInput) problems.push(["seed", "The seed is a whole number from 0 to 4,294,967,294 (or leave it empty).", this.seed]);
    for (const [field, message] of problems) this.setFieldError(field, message);
    if (problems.length) {
      if (problems[0][0] === "seed") $("#advanced").open = true;
      problems[0][2].focus();
      return { ok: false };
    }
    this.setFieldError("prompt", null);
    const values = { prompt };
    const negative = this.negative.value.trim();
    if (config.fields.includes("negative") && negative) values.negative_prompt = negative;
    if (config.fields.includes("aspect")) values.aspect_ratio = this.aspects[this.mode] || config.aspect;
    if (config.fields.includes("strength")) values.strength = Number(this.strength.value);
    if (config.fields.includes("duration")) values.duration_seconds = Number(this.duration.value);
    if (seed !== null) values.seed = seed;
    const path = `/generate/${this.mode}`;
    if (this.mode === "text") return { ok: true, request: { path, json: { prompt, stream: true }, prompt, mode: this.mode } };
    if (!config.multipart) return { ok: true, request: { path, json: values, prompt, mode: this.mode } };
    const form = new FormData();
    form.append("image", this.dropzone.file, this.dropzone.file.name || "image");
    for (const [key, value] of Object.entries(values)) form.append(key, String(value));
    return { ok: true, request: { path, form, prompt, mode: this.mode } };
  }

  // Generate is never `disabled` (that would drop keyboard focus): aria-disabled, and a reason.
  setBusy(busy) {
    this.busy = busy;
    this.refreshButton();
  }

  block(reason) {
    this.blockedReason = reason;
    this.refreshButton();
  }

  refreshButton() {
    const off = this.busy || Boolean(this.blockedReason);
    this.generate.setAttribute("aria-disabled", String(off));
    this.generate.classList.toggle("is-busy", this.busy);
  }

  usePrompt(text, mode = "text-to-image") {
    this.prompt.value = text;
    this.updateCount();
    this.setMode(mode, { focus: false });
    this.prompt.focus();
  }
}
