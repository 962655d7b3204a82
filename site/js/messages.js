// Refusals and failures as sentences a visitor can act on, built from the API's error envelope
// ({success:false, error_type, message, retry_after, donation_link, request_id, details?}).
// Never the raw JSON: the envelope's own `message` is only used for types this file does not know
// (it is written for people too), and a request id is shown as a short reference.

import { formatCountdown } from "./util.js";

const FIELD_NAMES = {
  prompt: "prompt",
  negative_prompt: "avoid",
  image: "image",
  seed: "seed",
  strength: "strength",
  aspect_ratio: "aspect",
  duration_seconds: "duration",
};

function fieldMessage(field, detail) {
  const type = detail.type || "";
  const text = String(detail.msg || "").replace(/^Value error, /, "");
  if (field === "prompt") {
    if (type === "string_too_long") return "The prompt is longer than 4,000 characters. Shorten it a little.";
    return "Write a prompt first: it needs at least one visible character.";
  }
  if (field === "seed") return "The seed is a whole number from 0 to 4,294,967,294 (or leave it empty).";
  if (field === "strength") return "Strength goes from 0 to 1.";
  if (field === "duration_seconds") return "The duration goes up to 10 seconds.";
  if (field === "image") return "Choose an image first.";
  return text ? `${text.charAt(0).toUpperCase()}${text.slice(1)}.` : "This value is not valid.";
}

function donateLink(envelope) {
  if (!envelope?.donation_link) return null;
  try {
    return { label: "Donate to raise your limit", href: new URL(envelope.donation_link, window.location.href).href, kind: "donate" };
  } catch {
    return null;
  }
}

const SITE_ROOT = new URL("../", import.meta.url); // config.js's relative links are the site's

function signInLink(config) {
  const url = config?.links?.signIn;
  return url ? { label: "Sign in for more", href: new URL(url, SITE_ROOT).href, kind: "signin" } : null;
}

// -> {tone, title, text(secondsLeft), after, retryAfter, autoRetry, blocksSubmit, links, fields, reference}
export function describeError(error, { config = null, what = "generations" } = {}) {
  const envelope = error?.envelope || null;
  const reference = envelope?.request_id ? envelope.request_id.slice(0, 12) : null;
  const retryAfter = Number.isFinite(error?.retryAfter) ? error.retryAfter : null;
  const base = { tone: "error", retryAfter, autoRetry: false, blocksSubmit: false, links: [], fields: {}, reference };
  const later = (sentence) => (s) => `${sentence} ${s > 0 ? `in ${formatCountdown(s)}` : "now"}.`;

  if (!error || error.kind === "unavailable") {
    return {
      ...base,
      tone: "down",
      title: "The service is down",
      text: (s) => (s > 0 ? `We can't reach it right now. Retrying in ${formatCountdown(s)}…` : "Retrying now…"),
      autoRetry: true,
      reference: null,
    };
  }
  const links = [signInLink(config), donateLink(envelope)].filter(Boolean);
  switch (error.type) {
    case "rate_limited":
      return {
        ...base,
        tone: "wait",
        title: "You've reached the free limit for now",
        text: later(`Free ${what} are limited to a few a minute. You can go again`),
        after: "You can go again now.",
        blocksSubmit: true,
        links,
      };
    case "abuse_blocked":
      return {
        ...base,
        tone: "wait",
        title: "Paused for a while",
        text: later("Too many requests from your network were refused, so it is paused. Try again"),
        after: "You can try again now.",
        blocksSubmit: true,
        links,
      };
    case "budget_exhausted":
      return {
        ...base,
        tone: "wait",
        title: "The free budget is used up",
        text: later("Paid generations are paused until the budget resets. It resets"),
        after: "The budget has reset: try again.",
        blocksSubmit: true,
        links,
      };
    case "user_key_rate_limited":
      return {
        ...base,
        tone: "wait",
        title: "Your own API key is rate limited",
        text: later("The provider is limiting your own key. Try again"),
        after: "You can try again now.",
        blocksSubmit: true,
      };
    case "server_busy":
      return {
        ...base,
        tone: "busy",
        title: "The queue is full",
        text: (s) => (s > 0
          ? `Lots of people are creating right now. We'll try again for you in ${formatCountdown(s)}.`
          : "Trying again now…"),
        autoRetry: true,
        links,
      };
    case "provider_unavailable":
      return {
        ...base,
        tone: "busy",
        title: "No generator is free right now",
        text: (s) => (s > 0 ? `Every provider is busy or down. Retrying in ${formatCountdown(s)}…` : "Retrying now…"),
        autoRetry: true,
      };
    case "validation_error": {
      const fields = {};
      for (const detail of envelope?.details || []) {
        const field = Array.isArray(detail.loc) ? String(detail.loc[detail.loc.length - 1]) : "";
        if (field in FIELD_NAMES && !fields[field]) fields[field] = fieldMessage(field, detail);
      }
      const first = Object.values(fields)[0];
      return { ...base, tone: "invalid", title: "Check the form", text: () => first || "Some fields are missing or invalid.", fields };
    }
    case "payload_too_large":
      return { ...base, tone: "invalid", title: "That is too large", text: () => "Images can be up to 10 MB, and prompts up to 4,000 characters.", fields: { image: "This image is larger than 10 MB." } };
    case "unsupported_media_type":
      return { ...base, tone: "invalid", title: "That file type is not supported", text: () => "Use a PNG, JPEG or WebP image.", fields: { image: "Use a PNG, JPEG or WebP image." } };
    case "content_policy":
      return { ...base, title: "The provider refused this prompt", text: () => "It falls under the provider's content policy. Try rewording it." };
    case "origin_refused":
      return { ...base, title: "This server does not accept this site", text: () => "The server refused a request from this page. Reload the page and try again." };
    case "forbidden":
      return { ...base, title: "Not yours to change", text: () => "The server did not recognise this browser as the one that started this job, so it cannot be canceled from here." };
    case "not_found":
      return { ...base, title: "Not found", text: () => "This job no longer exists (jobs are kept for 30 days)." };
    case "unauthorized":
      return { ...base, title: "Please sign in", text: () => "Sign in to do this.", links: [signInLink(config)].filter(Boolean) };
    default:
      if (error.kind === "refusal" && envelope?.message) {
        const auto = error.status === 503 && retryAfter !== null;
        return {
          ...base,
          tone: auto ? "busy" : "error",
          title: error.status >= 500 ? "Something went wrong on our side" : "That did not work",
          text: auto ? (s) => `${envelope.message} Retrying in ${formatCountdown(s)}…` : () => envelope.message,
          autoRetry: auto,
        };
      }
      return { ...base, title: "Something went wrong", text: () => "The answer could not be read. Please try again in a moment." };
  }
}

// A failed job's {error_type, message} (the API's own words, kept on the job).
export function describeJobFailure(error) {
  const type = error?.error_type || "";
  const titles = {
    content_policy: "The provider refused this prompt",
    bad_provider_output: "The result came back broken",
    provider_unavailable: "No generator could finish this",
    user_key_rejected: "Your own API key was rejected",
    user_key_unreadable: "Your stored API key could not be read",
    job_timeout: "This took too long",
  };
  const texts = {
    bad_provider_output: "The provider returned something that was not a valid image or video. Try again.",
    provider_unavailable: "Every provider was busy or down. Try again in a moment.",
  };
  return {
    tone: "error",
    title: titles[type] || "This generation failed",
    text: () => texts[type] || error?.message || "Please try again in a moment.",
    links: [],
    fields: {},
  };
}
