// The operators' composer of safety messages: audience, the event's CAP
// values, zones ticked from the event's own and a shape drawn on the map
// (a circle, or a polygon clicked corner by corner), a live preview of what
// will be sent, and the answer to a rumour prepared in one click from triage.
//
// A message to the public, or one Severe or Extreme, is sent only from a
// review: every word that will go out, in both languages, its expiry, and
// its area filled on the map and framed, then "Confirm and send". Nothing
// sends on Enter: the form has no submit button, and its submit event (which
// a browser may still fire) sends nothing.

import { circleRing, NAME_LAYERS } from "/shared/map.js";
import { el, section, select } from "/shared/dom.js";

// The kinds of zone a message may be addressed to by name.
const ADDRESSABLE = ["sector", "perimeter", "exit", "assembly_point"];

// Severities that are never sent without the review, whoever reads them.
const GRAVE = ["Severe", "Extreme"];

// The review's area on the map: a colour no other layer takes (heat, zones,
// highlight, official alert, draft), filled so that it reads as "here".
const REVIEW_COLOUR = "#39c5cf";

// Every word the panel shows, in one place for translation.
const WORDS = {
  title: "Send a safety message",
  review: "Review and send…",
  sendDirect: "Send to responders",
  reviewTitle: "Check before sending",
  reviewIntro: "This is exactly what will be sent. Its area is filled in cyan on the map, which is framed on it.",
  confirm: "Confirm and send",
  back: "Back to edit",
  sending: "Sending…",
  clear: "Clear the drawn shape",
  audience: { public: "The public (every phone on the public page)", responders: "Responders only" },
  sentTo: { public: "Sent to the public", responders: "Sent to responders" },
  noArea: "Choose at least one zone or draw a shape on the map: a message needs an area.",
  unreachable: "the server cannot be reached",
  none: "—",
  expiresIn: (minutes, at) => `${minutes} min after it is sent (about ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })})`,
  circle: (c) => `a ${c.radius_m} m circle drawn on the map`,
  polygon: (p) => `a ${p.length - 1}-corner polygon drawn on the map`,
  answers: (r) => `This answers the report “${r.text || "(no text)"}”: once sent, triage marks it false and links it to the rumour register (it can be undone there for a few seconds).`,
};

/** Every [lon, lat] of a GeoJSON geometry. */
function positions(geometry) {
  const flat = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(flat));
  return flat(geometry.coordinates);
}

export function composerPanel(page) {
  const cap = page.event.cap;
  const field = (label, input) => el("label", { class: "field" }, el("span", { text: label }), input);
  const audience = select({ id: "c-audience" }, ["public", "responders"], "public");
  const severity = select({ id: "c-severity" }, cap.severities, "Severe");
  const urgency = select({ id: "c-urgency" }, cap.urgencies, "Immediate");
  const certainty = select({ id: "c-certainty" }, cap.certainties, "Observed");
  const category = select({ id: "c-category" }, cap.categories, "Safety");
  const eventName = el("input", { id: "c-event", value: "Crowd crush risk", required: "" });
  const headline = el("input", { id: "c-headline", maxlength: "160", required: "" });
  const instruction = el("textarea", { id: "c-instruction", rows: "2" });
  const headlineIt = el("input", { id: "c-headline-it", maxlength: "160" });
  const instructionIt = el("textarea", { id: "c-instruction-it", rows: "2" });
  const zones = el("fieldset", { id: "c-zones" }, el("legend", { text: "Zones" }));
  const shape = select({ id: "c-shape" }, ["circle", "polygon"], "circle");
  const radius = el("input", { id: "c-radius", type: "number", value: "200", min: "1" });
  const clear = el("button", { type: "button", id: "c-clear", class: "secondary", text: WORDS.clear });
  const expires = el("input", { id: "c-expires", type: "number", value: "60", min: "1" });
  const preview = el("p", { id: "c-preview", class: "preview", "aria-live": "polite" });
  const send = el("button", { type: "button", id: "c-send", class: "send" });
  const form = el("form", { id: "compose" },
    field("Audience", audience),
    field("Severity", severity),
    field("Urgency", urgency),
    field("Certainty", certainty),
    field("Category", category),
    field("Event", eventName),
    field("Headline (en)", headline),
    field("Instruction (en)", instruction),
    field("Headline (it)", headlineIt),
    field("Instruction (it)", instructionIt),
    zones,
    field("Shape drawn on the map", shape),
    field("Circle radius (m) — click the map to place it", radius),
    el("p", { class: "preview", text: "Polygon: click its corners on the map; it closes by itself." }),
    clear,
    field("Expires in (minutes)", expires),
    preview,
    send);

  const reviewTitle = el("h3", { id: "c-review-title", tabindex: "-1", text: WORDS.reviewTitle });
  const reviewList = el("dl", { id: "c-review-list" });
  const reviewNote = el("p", { id: "c-review-note", class: "review-note" });
  const confirm = el("button", { type: "button", id: "c-confirm", class: "send", text: WORDS.confirm });
  const back = el("button", { type: "button", id: "c-back", class: "secondary", text: WORDS.back });
  const review = el("div", { id: "c-review", class: "review", role: "group", "aria-labelledby": "c-review-title", hidden: "" },
    reviewTitle, el("p", { class: "preview", text: WORDS.reviewIntro }), reviewList, reviewNote,
    el("div", { class: "review-actions" }, confirm, back));
  const result = el("p", { id: "c-result", class: "sent-banner", role: "status", tabindex: "-1" });
  const failure = el("p", { id: "c-error", class: "send-error", role: "alert" });

  const zoneFeatures = new Map();
  let circleCentre = null;
  let polygon = [];
  // The message under review, as it will be sent (its expiry set when sent).
  let reviewed = null;
  let sending = false;
  // The rumour report this message answers: { report, settle(broadcast | null) }.
  let answering = null;

  function composed() {
    const ticked = [...zones.querySelectorAll("input:checked")].map((i) => i.value);
    const circles = circleCentre ? [{ lat: circleCentre[1], lon: circleCentre[0], radius_m: Number(radius.value) }] : [];
    const polygons = polygon.length >= 3 ? [[...polygon, polygon[0]]] : [];
    const body = {
      audience: audience.value, msg_type: "Alert", category: category.value, event: eventName.value,
      severity: severity.value, urgency: urgency.value, certainty: certainty.value,
      headline: headline.value, instruction: instruction.value || undefined, language: "en",
      area: { zones: ticked, circles, polygons },
      expires: new Date(Date.now() + Number(expires.value) * 60000).toISOString(),
    };
    if (headlineIt.value) body.translations = [{ language: "it", headline: headlineIt.value, instruction: instructionIt.value || undefined }];
    return body;
  }

  const needsReview = (b) => b.audience === "public" || GRAVE.includes(b.severity);
  const zoneName = (id) => zoneFeatures.get(id)?.properties.name ?? id;
  const places = (area) => [...area.zones.map(zoneName), ...area.circles.map(WORDS.circle), ...area.polygons.map(WORDS.polygon)];

  function showPreview() {
    const b = composed();
    const where = [...b.area.zones, ...b.area.circles.map((c) => `${c.radius_m} m circle`), ...b.area.polygons.map((p) => `${p.length - 1}-corner polygon`)].join(", ") || "no area yet";
    preview.textContent = `${b.severity} ${b.audience} message: “${b.headline || "…"}” — ${where}; expires ${new Date(b.expires).toLocaleTimeString()}.`;
    send.textContent = needsReview(b) ? WORDS.review : WORDS.sendDirect;
  }

  function drawDraft() {
    const metres = Number(radius.value) || 0;
    const features = [];
    if (circleCentre && metres > 0) features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: circleRing(circleCentre, metres) } });
    if (polygon.length > 1) features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: [...polygon, polygon[0]] } });
    page.map.setGeoJson("draft", { type: "FeatureCollection", features });
    showPreview();
  }

  // The review's own source and layers, under the map's names so that streets still read.
  const reviewLayers = page.map.ready.then(() => {
    const m = page.map.map;
    m.addSource("review", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    const before = NAME_LAYERS.find((id) => m.getLayer(id));
    const polygons = ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]];
    m.addLayer({ id: "review-fill", type: "fill", source: "review", filter: polygons, paint: { "fill-color": REVIEW_COLOUR, "fill-opacity": 0.3 } }, before);
    m.addLayer({ id: "review-line", type: "line", source: "review", filter: polygons, paint: { "line-color": REVIEW_COLOUR, "line-width": 3 } }, before);
    m.addLayer({ id: "review-points", type: "circle", source: "review", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 11, "circle-color": REVIEW_COLOUR, "circle-opacity": 0.6, "circle-stroke-color": REVIEW_COLOUR, "circle-stroke-width": 3 } }, before);
  });

  /** Fills `area` (a message's) on the map and frames it; null clears it. */
  async function showArea(area) {
    const features = !area ? [] : [
      ...area.zones.map((id) => zoneFeatures.get(id)).filter(Boolean).map((f) => ({ type: "Feature", properties: { id: f.properties.id }, geometry: f.geometry })),
      ...area.circles.map((c) => ({ type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [circleRing([c.lon, c.lat], c.radius_m)] } })),
      ...area.polygons.map((p) => ({ type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [p] } })),
    ];
    await reviewLayers;
    page.map.map.getSource("review").setData({ type: "FeatureCollection", features });
    const points = features.flatMap((f) => positions(f.geometry));
    if (!points.length) return;
    const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
    page.map.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60, maxZoom: 17 });
  }

  function describe(b) {
    const it = b.translations?.[0];
    const minutes = Number(expires.value);
    const rows = [
      ["Audience", WORDS.audience[b.audience] ?? b.audience],
      ["Severity", `${b.severity} · ${b.urgency} · ${b.certainty}`],
      ["Event", `${b.event} (${b.category})`],
      ["Headline (en)", b.headline],
      ["Instruction (en)", b.instruction ?? WORDS.none],
      ["Headline (it)", it?.headline ?? WORDS.none],
      ["Instruction (it)", it?.instruction ?? WORDS.none],
      ["Area", places(b.area).join("; ")],
      ["Expires", WORDS.expiresIn(minutes, new Date(Date.now() + minutes * 60000))],
    ];
    return rows.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { lang: term.endsWith("(it)") && value !== WORDS.none ? "it" : "en", text: value })]);
  }

  /** Checks what the browser can before anything is shown or sent; false with the reason shown. */
  function valid(b) {
    failure.textContent = "";
    if (!form.reportValidity()) return false;
    if (!places(b.area).length) {
      failure.textContent = WORDS.noArea;
      return false;
    }
    return true;
  }

  function openReview(b) {
    reviewed = b;
    reviewList.replaceChildren(...describe(b));
    reviewNote.textContent = answering ? WORDS.answers(answering.report) : "";
    form.hidden = true;
    review.hidden = false;
    showArea(b.area);
    reviewTitle.focus();
  }

  function closeReview() {
    reviewed = null;
    review.hidden = true;
    form.hidden = false;
    showArea(null);
  }

  async function deliver(b) {
    if (sending) return;
    sending = true;
    confirm.disabled = true;
    send.disabled = true;
    confirm.textContent = WORDS.sending;
    const body = { ...b, expires: new Date(Date.now() + Number(expires.value) * 60000).toISOString() };
    let ok = false, answer = null;
    try {
      const resp = await fetch("/api/v1/broadcasts", {
        method: "POST", headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      answer = await resp.json().catch(() => null);
      ok = resp.ok;
    } catch { /* unreachable: said below */ }
    sending = false;
    confirm.disabled = false;
    send.disabled = false;
    confirm.textContent = WORDS.confirm;
    if (ok) {
      sent(body, answer);
      return;
    }
    // Kept as typed, with the server's reason where it can be read.
    closeReview();
    failure.textContent = `Not sent: ${answer?.error?.message ?? WORDS.unreachable}.`;
    failure.scrollIntoView({ block: "nearest" });
  }

  function sent(body, answer) {
    const done = answering;
    answering = null;
    closeReview();
    form.reset();
    circleCentre = null;
    polygon = [];
    drawDraft();
    result.textContent = `${WORDS.sentTo[body.audience] ?? "Sent"}: ${body.headline} (message #${answer?.seq ?? "?"})`;
    result.scrollIntoView({ block: "nearest" });
    result.focus();
    done?.settle(answer);
  }

  page.map.on("click", (e) => {
    if (reviewed) return; // the area under review stays as it is shown
    const point = [e.lngLat.lng, e.lngLat.lat];
    if (shape.value === "circle") circleCentre = point;
    else polygon.push(point);
    drawDraft();
  });
  shape.addEventListener("change", drawDraft);
  clear.addEventListener("click", () => {
    circleCentre = null;
    polygon = [];
    drawDraft();
  });
  radius.addEventListener("input", drawDraft);
  form.addEventListener("input", showPreview);
  form.addEventListener("change", showPreview);
  // Enter in a field never sends: a browser's implicit submission lands here and stops.
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target instanceof HTMLInputElement) e.preventDefault();
  });
  send.addEventListener("click", () => {
    const b = composed();
    result.textContent = "";
    if (!valid(b)) return;
    if (needsReview(b)) openReview(b);
    else deliver(b);
  });
  confirm.addEventListener("click", () => { if (reviewed) deliver(reviewed); });
  back.addEventListener("click", () => {
    closeReview();
    send.focus();
  });
  showPreview();

  return {
    elements: [section(WORDS.title, "composer", form, review, failure, result)],
    zones(features) {
      for (const f of features.filter((z) => ADDRESSABLE.includes(z.properties.kind))) {
        zoneFeatures.set(f.properties.id, f);
        zones.append(el("label", { class: "check" }, el("input", { type: "checkbox", value: f.properties.id }), ` ${f.properties.name}`));
      }
    },
    /**
     * A public denial of a rumour around where it was reported, ready to edit
     * and send. Returns `{ sent, cancel(), show() }`: `sent` resolves to the
     * stored broadcast once a message is sent from the composer, or to null
     * when another report's answer takes its place or `cancel()` is called.
     */
    answerRumour(report) {
      answering?.settle(null);
      let settle;
      const sentPromise = new Promise((resolve) => { settle = resolve; });
      const mine = { report, settle };
      answering = mine;
      if (reviewed) closeReview();
      audience.value = "public";
      severity.value = "Moderate";
      certainty.value = "Observed";
      eventName.value = "Rumour";
      headline.value = "The rumour going around here is false";
      instruction.value = "Stay calm and follow the stewards' instructions.";
      circleCentre = [report.lon, report.lat];
      radius.value = "300";
      result.textContent = "";
      failure.textContent = "";
      drawDraft();
      headline.focus();
      return {
        sent: sentPromise,
        cancel() {
          if (answering !== mine) return;
          answering = null;
          if (reviewed) reviewNote.textContent = "";
          settle(null);
        },
        /** Brings the answer into view, where the operator left it. */
        show() {
          const at = reviewed ? reviewTitle : headline;
          at.scrollIntoView({ block: "center" });
          at.focus();
        },
      };
    },
  };
}
