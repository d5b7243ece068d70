// The time slider of /ops (DESIGN §11): choose a moment of the last hours
// (up to count retention, at most twelve),
// play it forward at 1×, 5×, 15× or 60×, pause, and go back to live. The map
// and the zones show the server's `?at=` answers for that moment, and a
// banner across the page says REPLAY with the moment's time, so that nobody
// takes the past for now. Replays are answered per whole minute, so a new
// answer is asked for only when the played moment enters another minute.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";

// The last hours, as far back as counts are kept: a wall's operator wants
// the event's afternoon, not a week.
const MAX_SPAN_MINUTES = 12 * 60;
const SPEEDS = [1, 5, 15, 60];

const hhmm = (t) => t.toISOString().slice(11, 16);

export function replayPanel(page, zones) {
  // A minute short of count retention, so that a moment chosen is still kept when asked for.
  const SPAN_MINUTES = Math.max(1, Math.min(MAX_SPAN_MINUTES, Math.floor(page.event.countRetentionSecs / 60) - 1));
  const spanWords = SPAN_MINUTES >= 120 ? `${Math.round(SPAN_MINUTES / 60)} hours` : `${SPAN_MINUTES} minutes`;
  const liveWords = `Live. Move the slider to replay the last ${spanWords}.`;
  const slider = el("input", {
    id: "replay-slider", type: "range", min: String(-SPAN_MINUTES), max: "0", step: "1", value: "0",
    "aria-label": "Moment to replay, in minutes before now",
  });
  const speed = el("select", { id: "replay-speed", "aria-label": "Replay speed" },
    ...SPEEDS.map((s) => el("option", { value: String(s), text: `${s}×` })));
  const play = el("button", { id: "replay-play", type: "button", text: "Play", disabled: "" });
  const live = el("button", { id: "replay-live", type: "button", text: "Back to live", disabled: "" });
  const shown = el("p", { id: "replay-moment", class: "none", text: liveWords });
  const banner = el("div", { id: "replay-banner", role: "status", hidden: "" });
  document.body.prepend(banner);

  let moment = null; // the replayed time, or null when live
  let asked = null; // the minute last asked for
  let timer = null;

  async function show() {
    const minute = Math.floor(moment.getTime() / 60000);
    if (minute === asked) return;
    asked = minute;
    const at = encodeURIComponent(moment.toISOString().replace(/\.\d+Z$/, "Z"));
    const window = page.header.window();
    try {
      const [heat, status] = await Promise.all([
        getJson(`/api/v1/heatmap?res=${page.resolution()}&window=${window}&at=${at}`, page.token()),
        getJson(`/api/v1/zones/status?window=${window}&at=${at}`, page.token()),
      ]);
      if (moment === null || Math.floor(moment.getTime() / 60000) !== minute) return; // overtaken
      page.showReplay(heat.cells);
      zones.replay(status);
    } catch (e) {
      shown.textContent = `Replay failed: ${e.message}`;
    }
  }

  function mark() {
    const words = `REPLAY ${hhmm(moment)} UTC — not live`;
    banner.textContent = words;
    banner.hidden = false;
    shown.textContent = `Showing ${moment.toISOString().slice(0, 16).replace("T", " ")} UTC.`;
    slider.value = String(Math.min(0, Math.round((moment.getTime() - Date.now()) / 60000)));
    slider.setAttribute("aria-valuetext", words);
    play.disabled = false;
    live.disabled = false;
    page.header.showReplay(moment);
  }

  function goTo(t) {
    moment = t;
    mark();
    show();
  }

  function pause() {
    clearInterval(timer);
    timer = null;
    play.textContent = "Play";
  }

  function backToLive() {
    pause();
    moment = null;
    asked = null;
    banner.hidden = true;
    banner.textContent = "";
    shown.textContent = liveWords;
    slider.value = "0";
    slider.removeAttribute("aria-valuetext");
    play.disabled = true;
    live.disabled = true;
    page.showReplay(null);
    zones.replay(null);
    page.header.showReplay(null);
  }

  slider.addEventListener("input", () => {
    const minutes = Number(slider.value);
    if (minutes >= 0) return backToLive();
    goTo(new Date(Date.now() + minutes * 60000));
  });
  play.addEventListener("click", () => {
    if (timer) return pause();
    play.textContent = "Pause";
    timer = setInterval(() => {
      const next = new Date(moment.getTime() + Number(speed.value) * 1000);
      if (next.getTime() >= Date.now()) return backToLive();
      goTo(next);
    }, 1000);
  });
  live.addEventListener("click", backToLive);

  return {
    elements: [section("Replay", "replay-panel", slider, el("div", { class: "replay-controls" }, speed, play, live), shown)],
  };
}
