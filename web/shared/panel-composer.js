// The operators' composer of safety messages: audience, the event's CAP
// values, zones ticked from the event's own and a shape drawn on the map
// (a circle, or a polygon clicked corner by corner), a live preview of what
// will be sent, and the answer to a rumour prepared in one click from triage.

import { circleRing } from "/shared/map.js";
import { el, section, select } from "/shared/dom.js";

// The kinds of zone a message may be addressed to by name.
const ADDRESSABLE = ["sector", "perimeter", "exit", "assembly_point"];

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
  const clear = el("button", { type: "button", id: "c-clear", text: "Clear the drawn shape" });
  const expires = el("input", { id: "c-expires", type: "number", value: "60", min: "1" });
  const preview = el("p", { id: "c-preview", class: "preview", "aria-live": "polite" });
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
    el("button", { type: "submit", text: "Send" }));

  let circleCentre = null;
  let polygon = [];

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

  function showPreview() {
    const b = composed();
    const where = [...b.area.zones, ...b.area.circles.map((c) => `${c.radius_m} m circle`), ...b.area.polygons.map((p) => `${p.length - 1}-corner polygon`)].join(", ") || "no area yet";
    preview.textContent = `${b.severity} ${b.audience} message: “${b.headline || "…"}” — ${where}; expires ${new Date(b.expires).toLocaleTimeString()}.`;
  }

  function drawDraft() {
    const metres = Number(radius.value) || 0;
    const features = [];
    if (circleCentre && metres > 0) features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: circleRing(circleCentre, metres) } });
    if (polygon.length > 1) features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: [...polygon, polygon[0]] } });
    page.map.setGeoJson("draft", { type: "FeatureCollection", features });
    showPreview();
  }

  page.map.on("click", (e) => {
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
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const resp = await fetch("/api/v1/broadcasts", {
        method: "POST", headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" }, body: JSON.stringify(composed()),
      });
      const answer = await resp.json();
      preview.textContent = resp.ok ? `Sent as #${answer.seq}.` : `Not sent: ${answer.error.message}`;
    } catch {
      preview.textContent = "Not sent: the server cannot be reached.";
    }
  });
  showPreview();

  return {
    elements: [section("Send a safety message", "composer", form)],
    zones(features) {
      for (const f of features.filter((z) => ADDRESSABLE.includes(z.properties.kind))) {
        zones.append(el("label", { class: "check" }, el("input", { type: "checkbox", value: f.properties.id }), ` ${f.properties.name}`));
      }
    },
    /** A public denial of a rumour around where it was reported, ready to edit and send. */
    answerRumour(report) {
      audience.value = "public";
      severity.value = "Moderate";
      certainty.value = "Observed";
      eventName.value = "Rumour";
      headline.value = "The rumour going around here is false";
      instruction.value = "Stay calm and follow the stewards' instructions.";
      circleCentre = [report.lon, report.lat];
      radius.value = "300";
      drawDraft();
      headline.focus();
    },
  };
}
