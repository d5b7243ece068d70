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

import { cellToLatLng } from "/vendor/h3-js/h3-js.es.js";
import { centroid, circleRing, NAME_LAYERS } from "/shared/map.js";
import { el, section } from "/shared/dom.js";
import { clock, language, number, words } from "/shared/i18n.js";
import { capWord } from "/shared/cap.js";

// The CAP words, for the tests that read every module's tables.
export { CAP_WORDS } from "/shared/cap.js";

// The kinds of zone a message may be addressed to by name.
const ADDRESSABLE = ["sector", "perimeter", "exit", "assembly_point"];

// Severities that are never sent without the review, whoever reads them.
const GRAVE = ["Severe", "Extreme"];

// The review's area on the map: a colour no other layer takes (heat, zones,
// highlight, official alert, draft), filled so that it reads as "here".
const REVIEW_COLOUR = "#39c5cf";

// A circle placed from the keyboard: its radius in metres, within these.
const KEYBOARD_RADIUS = { min: 50, max: 5000, initial: 300 };

// Every word the panel shows, in one place for translation.
export const WORDS = {
  en: {
    title: "Send a safety message",
    review: "Review and send…",
    sendDirect: "Send to responders",
    reviewTitle: "Check before sending",
    reviewIntro: "This is exactly what will be sent. Its area is filled in cyan on the map, which is framed on it.",
    confirm: "Confirm and send",
    back: "Back to edit",
    sending: "Sending…",
    clear: "Clear the drawn shape",
    audiencePublic: "The public (every phone on the public page)",
    audienceResponders: "Responders only",
    optionPublic: "public",
    optionResponders: "responders",
    sentPublic: "Sent to the public",
    sentResponders: "Sent to responders",
    sent: "Sent",
    sentLine: (to, headline, seq) => `${to}: ${headline} (message #${seq})`,
    noArea: "Choose at least one zone or draw a shape on the map: a message needs an area.",
    notSent: (why) => `Not sent: ${why}.`,
    unreachable: "the server cannot be reached",
    none: "—",
    expiresIn: (minutes, at) => `${number(minutes)} min after it is sent (about ${clock(at)})`,
    circle: (c) => `a ${number(c.radius_m)} m circle drawn on the map`,
    circleAround: (c, place) => `a ${number(c.radius_m)} m circle around ${place}`,
    polygon: (p) => `a ${number(p.length - 1)}-corner polygon drawn on the map`,
    outline: (place) => `the outline of ${place}`,
    answers: (text) => `This answers the report “${text}”: once sent, triage marks it false and links it to the rumour register (it can be undone there for a few seconds).`,
    noText: "(no text)",
    audience: "Audience",
    severity: "Severity",
    urgency: "Urgency",
    certainty: "Certainty",
    category: "Category",
    event: "Event",
    headlineEn: "Headline (en)",
    instructionEn: "Instruction (en)",
    headlineIt: "Headline (it)",
    instructionIt: "Instruction (it)",
    zones: "Zones",
    shape: "Shape drawn on the map",
    shapeCircle: "circle",
    shapePolygon: "polygon",
    radius: "Circle radius (m) — click the map to place it",
    polygonHelp: "Polygon: click its corners on the map; it closes by itself.",
    expires: "Expires in (minutes)",
    area: "Area",
    expiresRow: "Expires",
    previewLine: (severity, audience, headline, where, at) => `${severity} ${audience} message: “${headline}” — ${where}; expires ${at}.`,
    previewCircle: (c) => `${number(c.radius_m)} m circle`,
    previewPolygon: (p) => `${number(p.length - 1)}-corner polygon`,
    previewNoArea: "no area yet",
    keyboardLegend: "A circle without the mouse",
    keyboardOf: "Circle of",
    keyboardAround: "m around",
    keyboardRadius: "Radius of the circle, in metres (50 to 5000)",
    keyboardPlace: "Place the circle is centred on",
    keyboardZones: "Zones",
    keyboardCentre: "the map centre",
    keyboardHotspot: "the busiest hotspot",
    keyboardAdd: "Add circle",
    keyboardOutline: "Use the zone's outline",
    keyboardAdded: (metres, place) => `The message's area: a ${number(metres)} m circle around ${place}, shown on the map.`,
    keyboardOutlined: (place) => `The message's area: the outline of ${place}, shown on the map.`,
    keyboardNoHotspot: "No hotspot yet: the map shows no busy cell.",
    keyboardNoOutline: "Choose a zone with an outline (an area, not a point).",
  },
  it: {
    title: "Invia un messaggio di sicurezza",
    review: "Rivedi e invia…",
    sendDirect: "Invia ai soccorritori",
    reviewTitle: "Controlla prima di inviare",
    reviewIntro: "Questo è esattamente ciò che verrà inviato. La sua area è colorata in ciano sulla mappa, inquadrata su di essa.",
    confirm: "Conferma e invia",
    back: "Torna a modificare",
    sending: "Invio in corso…",
    clear: "Cancella la forma disegnata",
    audiencePublic: "Il pubblico (ogni telefono sulla pagina pubblica)",
    audienceResponders: "Solo i soccorritori",
    optionPublic: "pubblico",
    optionResponders: "soccorritori",
    sentPublic: "Inviato al pubblico",
    sentResponders: "Inviato ai soccorritori",
    sent: "Inviato",
    sentLine: (to, headline, seq) => `${to}: ${headline} (messaggio n. ${seq})`,
    noArea: "Scegli almeno una zona o disegna una forma sulla mappa: un messaggio ha bisogno di un'area.",
    notSent: (why) => `Non inviato: ${why}.`,
    unreachable: "il server non è raggiungibile",
    none: "—",
    expiresIn: (minutes, at) => `${number(minutes)} min dopo l'invio (verso le ${clock(at)})`,
    circle: (c) => `un cerchio di ${number(c.radius_m)} m disegnato sulla mappa`,
    circleAround: (c, place) => `un cerchio di ${number(c.radius_m)} m attorno a ${place}`,
    polygon: (p) => `un poligono di ${number(p.length - 1)} vertici disegnato sulla mappa`,
    outline: (place) => `il contorno di ${place}`,
    answers: (text) => `Questo risponde alla segnalazione «${text}»: una volta inviato, lo smistamento la segna come falsa e la collega al registro delle voci (lì si può annullare per qualche secondo).`,
    noText: "(senza testo)",
    audience: "Destinatari",
    severity: "Gravità",
    urgency: "Urgenza",
    certainty: "Certezza",
    category: "Categoria",
    event: "Tipo di evento",
    headlineEn: "Titolo (en)",
    instructionEn: "Istruzioni (en)",
    headlineIt: "Titolo (it)",
    instructionIt: "Istruzioni (it)",
    zones: "Zone",
    shape: "Forma disegnata sulla mappa",
    shapeCircle: "cerchio",
    shapePolygon: "poligono",
    radius: "Raggio del cerchio (m) — fai clic sulla mappa per posizionarlo",
    polygonHelp: "Poligono: fai clic sui vertici sulla mappa; si chiude da solo.",
    expires: "Scade tra (minuti)",
    area: "Area",
    expiresRow: "Scadenza",
    previewLine: (severity, audience, headline, where, at) =>
      `Messaggio ${audience === "public" ? "al pubblico" : "ai soccorritori"}, gravità ${severity.toLowerCase()}: “${headline}” — ${where}; scade alle ${at}.`,
    previewCircle: (c) => `cerchio di ${number(c.radius_m)} m`,
    previewPolygon: (p) => `poligono di ${number(p.length - 1)} vertici`,
    previewNoArea: "nessuna area per ora",
    keyboardLegend: "Un cerchio senza mouse",
    keyboardOf: "Cerchio di",
    keyboardAround: "m attorno a",
    keyboardRadius: "Raggio del cerchio, in metri (da 50 a 5000)",
    keyboardPlace: "Luogo al centro del cerchio",
    keyboardZones: "Zone",
    keyboardCentre: "il centro della mappa",
    keyboardHotspot: "il punto più affollato",
    keyboardAdd: "Aggiungi il cerchio",
    keyboardOutline: "Usa il contorno della zona",
    keyboardAdded: (metres, place) => `L'area del messaggio: un cerchio di ${number(metres)} m attorno a ${place}, mostrato sulla mappa.`,
    keyboardOutlined: (place) => `L'area del messaggio: il contorno di ${place}, mostrato sulla mappa.`,
    keyboardNoHotspot: "Ancora nessun punto affollato: la mappa non mostra celle piene.",
    keyboardNoOutline: "Scegli una zona con un contorno (un'area, non un punto).",
  },
};
const t = words(WORDS);

/** A `<select>` of `values` shown as `label(value)`, `chosen` selected when it is one of them. */
function select(attrs, values, chosen, label) {
  return el("select", attrs, ...values.map((v) => el("option", { value: v, text: label(v), ...(v === chosen ? { selected: "" } : {}) })));
}

/** Every [lon, lat] of a GeoJSON geometry. */
function positions(geometry) {
  const flat = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(flat));
  return flat(geometry.coordinates);
}

export function composerPanel(page) {
  const cap = page.event.cap;
  const field = (label, input) => el("label", { class: "field" }, el("span", { text: label }), input);
  const audienceWord = (v) => ({ public: t("optionPublic"), responders: t("optionResponders") })[v] ?? v;
  const audience = select({ id: "c-audience" }, ["public", "responders"], "public", audienceWord);
  const severity = select({ id: "c-severity" }, cap.severities, "Severe", capWord);
  const urgency = select({ id: "c-urgency" }, cap.urgencies, "Immediate", capWord);
  const certainty = select({ id: "c-certainty" }, cap.certainties, "Observed", capWord);
  const category = select({ id: "c-category" }, cap.categories, "Safety", capWord);
  const eventName = el("input", { id: "c-event", value: "Crowd crush risk", required: "", lang: "en" });
  const headline = el("input", { id: "c-headline", maxlength: "160", required: "", lang: "en" });
  const instruction = el("textarea", { id: "c-instruction", rows: "2", lang: "en" });
  const headlineIt = el("input", { id: "c-headline-it", maxlength: "160", lang: "it" });
  const instructionIt = el("textarea", { id: "c-instruction-it", rows: "2", lang: "it" });
  const zones = el("fieldset", { id: "c-zones" }, el("legend", { text: t("zones") }));
  const shape = select({ id: "c-shape" }, ["circle", "polygon"], "circle", (v) => (v === "circle" ? t("shapeCircle") : t("shapePolygon")));
  const radius = el("input", { id: "c-radius", type: "number", value: "200", min: "1" });
  const clear = el("button", { type: "button", id: "c-clear", class: "secondary", text: t("clear") });
  const expires = el("input", { id: "c-expires", type: "number", value: "60", min: "1" });
  const preview = el("p", { id: "c-preview", class: "preview", "aria-live": "polite" });
  const send = el("button", { type: "button", id: "c-send", class: "send" });

  // A circle (or a zone's outline) placed from the keyboard: "Circle of [N] m around [place]".
  const kbRadius = el("input", { id: "c-kb-radius", type: "number", value: String(KEYBOARD_RADIUS.initial),
    min: String(KEYBOARD_RADIUS.min), max: String(KEYBOARD_RADIUS.max), step: "10", inputmode: "numeric", "aria-label": t("keyboardRadius") });
  const kbZones = el("optgroup", { label: t("keyboardZones") });
  const kbPlace = el("select", { id: "c-kb-around", "aria-label": t("keyboardPlace") },
    el("option", { value: "centre", text: t("keyboardCentre") }),
    el("option", { value: "hotspot", text: t("keyboardHotspot") }),
    kbZones);
  const kbAdd = el("button", { type: "button", id: "c-kb-add", class: "secondary", text: t("keyboardAdd") });
  const kbOutline = el("button", { type: "button", id: "c-kb-outline", class: "secondary", text: t("keyboardOutline") });
  const kbStatus = el("p", { id: "c-kb-status", class: "preview", role: "status" });
  const keyboard = el("fieldset", { id: "c-keyboard", class: "keyboard-shape" },
    el("legend", { text: t("keyboardLegend") }),
    el("div", { class: "keyboard-line" },
      el("span", { "aria-hidden": "true", text: t("keyboardOf") }), kbRadius,
      el("span", { "aria-hidden": "true", text: t("keyboardAround") }), kbPlace),
    el("div", { class: "keyboard-actions" }, kbAdd, kbOutline),
    kbStatus);

  const form = el("form", { id: "compose" },
    field(t("audience"), audience),
    field(t("severity"), severity),
    field(t("urgency"), urgency),
    field(t("certainty"), certainty),
    field(t("category"), category),
    field(t("event"), eventName),
    field(t("headlineEn"), headline),
    field(t("instructionEn"), instruction),
    field(t("headlineIt"), headlineIt),
    field(t("instructionIt"), instructionIt),
    zones,
    field(t("shape"), shape),
    field(t("radius"), radius),
    el("p", { class: "preview", text: t("polygonHelp") }),
    keyboard,
    clear,
    field(t("expires"), expires),
    preview,
    send);

  const reviewTitle = el("h3", { id: "c-review-title", tabindex: "-1", text: t("reviewTitle") });
  const reviewList = el("dl", { id: "c-review-list" });
  const reviewNote = el("p", { id: "c-review-note", class: "review-note" });
  const confirm = el("button", { type: "button", id: "c-confirm", class: "send", text: t("confirm") });
  const back = el("button", { type: "button", id: "c-back", class: "secondary", text: t("back") });
  const review = el("div", { id: "c-review", class: "review", role: "group", "aria-labelledby": "c-review-title", hidden: "" },
    reviewTitle, el("p", { class: "preview", text: t("reviewIntro") }), reviewList, reviewNote,
    el("div", { class: "review-actions" }, confirm, back));
  const result = el("p", { id: "c-result", class: "sent-banner", role: "status", tabindex: "-1" });
  const failure = el("p", { id: "c-error", class: "send-error", role: "alert" });

  const zoneFeatures = new Map();
  // Every zone with a shape, for the keyboard's circle (exits and first-aid posts too).
  const placeFeatures = new Map();
  let busiest = null;
  let circleCentre = null;
  // What the circle is around when placed from the keyboard ("Piazza Maggiore"), else null.
  let circlePlace = null;
  let polygon = [];
  // The zone whose outline is the polygon, when taken from the keyboard.
  let polygonPlace = null;
  // The message under review, as it will be sent (its expiry set when sent).
  let reviewed = null;
  let sending = false;
  // The rumour report this message answers: { report, settle(broadcast | null) }.
  let answering = null;

  function composed() {
    const ticked = [...zones.querySelectorAll("input:checked")].map((i) => i.value);
    const circles = circleCentre ? [{ lat: circleCentre[1], lon: circleCentre[0], radius_m: Number(radius.value) }] : [];
    const polygons = polygon.length >= 3 ? [[...polygon, polygon[0]]] : [];
    const named = [circles.length ? circlePlace : null, polygons.length ? polygonPlace : null].filter(Boolean);
    const body = {
      audience: audience.value, msg_type: "Alert", category: category.value, event: eventName.value,
      severity: severity.value, urgency: urgency.value, certainty: certainty.value,
      headline: headline.value, instruction: instruction.value || undefined, language: "en",
      area: { ...(named.length ? { description: [...new Set(named)].join("; ") } : {}), zones: ticked, circles, polygons },
      expires: new Date(Date.now() + Number(expires.value) * 60000).toISOString(),
    };
    if (headlineIt.value) body.translations = [{ language: "it", headline: headlineIt.value, instruction: instructionIt.value || undefined }];
    return body;
  }

  const needsReview = (b) => b.audience === "public" || GRAVE.includes(b.severity);
  const zoneName = (id) => zoneFeatures.get(id)?.properties.name ?? id;
  const places = (area) => [
    ...area.zones.map(zoneName),
    ...area.circles.map((c) => (circlePlace ? t("circleAround", c, circlePlace) : t("circle", c))),
    ...area.polygons.map((p) => (polygonPlace ? t("outline", polygonPlace) : t("polygon", p))),
  ];

  function showPreview() {
    const b = composed();
    const where = [...b.area.zones, ...b.area.circles.map((c) => t("previewCircle", c)), ...b.area.polygons.map((p) => t("previewPolygon", p))].join(", ") || t("previewNoArea");
    preview.textContent = t("previewLine", capWord(b.severity), b.audience, b.headline || "…", where, clock(b.expires, { seconds: true }));
    send.textContent = needsReview(b) ? t("review") : t("sendDirect");
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

  /** Frames the map on `features` (GeoJSON), when they have any position. */
  function frame(features) {
    const points = features.flatMap((f) => positions(f.geometry));
    if (!points.length) return;
    const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
    page.map.map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60, maxZoom: 17 });
  }

  /** Fills `area` (a message's) on the map and frames it; null clears it. */
  async function showArea(area) {
    const features = !area ? [] : [
      ...area.zones.map((id) => zoneFeatures.get(id)).filter(Boolean).map((f) => ({ type: "Feature", properties: { id: f.properties.id }, geometry: f.geometry })),
      ...area.circles.map((c) => ({ type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [circleRing([c.lon, c.lat], c.radius_m)] } })),
      ...area.polygons.map((p) => ({ type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: [p] } })),
    ];
    await reviewLayers;
    page.map.map.getSource("review").setData({ type: "FeatureCollection", features });
    frame(features);
  }

  function describe(b) {
    const it = b.translations?.[0];
    const minutes = Number(expires.value);
    const own = language();
    // Each row's words with their language: the page's, or the one they were typed in.
    const rows = [
      [t("audience"), b.audience === "public" ? t("audiencePublic") : b.audience === "responders" ? t("audienceResponders") : b.audience, own],
      [t("severity"), [b.severity, b.urgency, b.certainty].map(capWord).join(" · "), own],
      // The event as typed (in English, as the message is written), its category in the page's words.
      [t("event"), [el("span", { lang: "en", text: b.event }), ` (${capWord(b.category)})`], own],
      [t("headlineEn"), b.headline, "en"],
      [t("instructionEn"), b.instruction ?? t("none"), "en"],
      [t("headlineIt"), it?.headline ?? t("none"), it?.headline ? "it" : own],
      [t("instructionIt"), it?.instruction ?? t("none"), it?.instruction ? "it" : own],
      [t("area"), places(b.area).join("; "), own],
      [t("expiresRow"), t("expiresIn", minutes, new Date(Date.now() + minutes * 60000)), own],
    ];
    return rows.flatMap(([term, value, lang]) => [el("dt", { text: term }),
      Array.isArray(value) ? el("dd", { lang }, ...value) : el("dd", { lang, text: value })]);
  }

  /** Checks what the browser can before anything is shown or sent; false with the reason shown. */
  function valid(b) {
    failure.textContent = "";
    if (!form.reportValidity()) return false;
    if (!places(b.area).length) {
      failure.textContent = t("noArea");
      return false;
    }
    return true;
  }

  function openReview(b) {
    reviewed = b;
    reviewList.replaceChildren(...describe(b));
    reviewNote.textContent = answering ? t("answers", answering.report.text || t("noText")) : "";
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
    confirm.textContent = t("sending");
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
    confirm.textContent = t("confirm");
    if (ok) {
      sent(body, answer);
      return;
    }
    // Kept as typed, with the server's reason (as the server words it) where it can be read.
    closeReview();
    failure.textContent = t("notSent", answer?.error?.message ?? t("unreachable"));
    failure.scrollIntoView({ block: "nearest" });
  }

  function forgetShapes() {
    circleCentre = null;
    circlePlace = null;
    polygon = [];
    polygonPlace = null;
  }

  function sent(body, answer) {
    const done = answering;
    answering = null;
    closeReview();
    form.reset();
    forgetShapes();
    kbStatus.textContent = "";
    showOutlineChoice();
    drawDraft();
    const to = body.audience === "public" ? t("sentPublic") : body.audience === "responders" ? t("sentResponders") : t("sent");
    result.textContent = t("sentLine", to, body.headline, answer?.seq ?? "?");
    result.scrollIntoView({ block: "nearest" });
    result.focus();
    done?.settle(answer);
  }

  /** The keyboard's chosen place: { centre: [lon, lat], name, feature? }, or null with the reason shown. */
  function chosenPlace() {
    if (kbPlace.value === "centre") {
      const c = page.map.map.getCenter();
      return { centre: [c.lng, c.lat], name: null };
    }
    if (kbPlace.value === "hotspot") {
      if (!busiest) {
        kbStatus.textContent = t("keyboardNoHotspot");
        return null;
      }
      const [lat, lon] = cellToLatLng(busiest.cell);
      return { centre: [lon, lat], name: null };
    }
    const feature = placeFeatures.get(kbPlace.value);
    const centre = centroid(feature?.geometry);
    return centre ? { centre, name: feature.properties.name ?? feature.properties.id, feature } : null;
  }

  function addKeyboardCircle() {
    if (reviewed) return;
    kbStatus.textContent = "";
    if (!kbRadius.reportValidity()) return;
    const place = chosenPlace();
    if (!place) return;
    const metres = Number(kbRadius.value);
    circleCentre = place.centre;
    circlePlace = place.name;
    radius.value = String(metres);
    shape.value = "circle";
    drawDraft();
    frame([{ geometry: { type: "LineString", coordinates: circleRing(place.centre, metres) } }]);
    kbStatus.textContent = t("keyboardAdded", metres, place.name ?? kbPlace.selectedOptions[0]?.textContent ?? "");
  }

  function useOutline() {
    if (reviewed) return;
    kbStatus.textContent = "";
    const feature = placeFeatures.get(kbPlace.value);
    const ring = feature?.geometry?.type === "Polygon" ? feature.geometry.coordinates[0]
      : feature?.geometry?.type === "MultiPolygon" ? feature.geometry.coordinates[0][0] : null;
    if (!ring) {
      kbStatus.textContent = t("keyboardNoOutline");
      return;
    }
    // The composer closes the polygon itself: its corners without the ring's closing repeat.
    const last = ring.length - 1;
    polygon = ring[0][0] === ring[last][0] && ring[0][1] === ring[last][1] ? ring.slice(0, last) : ring.slice();
    polygonPlace = feature.properties.name ?? feature.properties.id;
    shape.value = "polygon";
    drawDraft();
    frame([feature]);
    kbStatus.textContent = t("keyboardOutlined", polygonPlace);
  }

  /** The outline is offered only for a zone that has one. */
  function showOutlineChoice() {
    const type = placeFeatures.get(kbPlace.value)?.geometry?.type;
    kbOutline.disabled = !["Polygon", "MultiPolygon"].includes(type);
  }

  page.map.on("click", (e) => {
    if (reviewed) return; // the area under review stays as it is shown
    const point = [e.lngLat.lng, e.lngLat.lat];
    if (shape.value === "circle") {
      circleCentre = point;
      circlePlace = null;
    } else {
      if (polygonPlace) polygon = []; // a zone's outline is replaced, not added to
      polygonPlace = null;
      polygon.push(point);
    }
    drawDraft();
  });
  shape.addEventListener("change", drawDraft);
  clear.addEventListener("click", () => {
    forgetShapes();
    kbStatus.textContent = "";
    drawDraft();
  });
  radius.addEventListener("input", drawDraft);
  kbAdd.addEventListener("click", addKeyboardCircle);
  kbOutline.addEventListener("click", useOutline);
  kbPlace.addEventListener("change", showOutlineChoice);
  showOutlineChoice();
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
    elements: [section(t("title"), "composer", form, review, failure, result)],
    zones(features) {
      for (const f of features.filter((z) => ADDRESSABLE.includes(z.properties.kind))) {
        zoneFeatures.set(f.properties.id, f);
        zones.append(el("label", { class: "check" }, el("input", { type: "checkbox", value: f.properties.id }), ` ${f.properties.name}`));
      }
      for (const f of features.filter((z) => centroid(z.geometry))) {
        if (placeFeatures.has(f.properties.id)) continue;
        placeFeatures.set(f.properties.id, f);
        kbZones.append(el("option", { value: f.properties.id, text: f.properties.name ?? f.properties.id }));
      }
      showOutlineChoice();
    },
    heat(cells) {
      busiest = null;
      for (const c of cells) if (!busiest || c.count > busiest.count) busiest = c;
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
      // The answer goes out in both languages of the event, each ready to edit.
      headlineIt.value = "La voce che circola qui è falsa";
      instructionIt.value = "Mantenete la calma e seguite le indicazioni degli steward.";
      circleCentre = [report.lon, report.lat];
      circlePlace = null;
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
