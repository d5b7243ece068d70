// Triage on the wall map: new reports appear by themselves; one click to
// verify; Dismiss, and "Rumour…" (mark a report false and link it to an
// entry of the rumour register, existing or new), can be undone for a few
// seconds before anything is sent. A rumour answered publicly stays in
// triage while its answer is prepared in the composer, and is marked false
// once the answer has gone out.
//
// The server cannot put a moderated report back to unverified (DESIGN §3:
// PATCH takes verified, dismissed or false), so undoing means not sending:
// the PATCH waits in the page until the time to undo it has passed, and is
// sent at once if the page is closed meanwhile.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { number, words } from "/shared/i18n.js";
import { categoryLabel } from "/shared/panel-report-form.js";
import { linkReport, rumourLinker } from "/shared/panel-rumours.js";

/** Seconds a dismissal or a rumour's marking waits for an undo. */
export const UNDO_SECONDS = 5;

// Every word the panel shows, in one place for translation.
export const WORDS = {
  en: {
    title: "Reports to triage",
    none: "No reports waiting.",
    verify: "✓ Verify",
    dismiss: "✕ Dismiss",
    rumour: "Rumour…",
    dismissed: "Dismissed",
    markedFalse: "Marked false and linked",
    verified: "Verified",
    undo: (s) => `Undo (${s} s)`,
    tooLate: "Sending…",
    undone: (word) => `${word}: undone; the report is back in triage.`,
    waiting: (word) => `${word}. It is sent in ${UNDO_SECONDS} seconds unless you undo it.`,
    failed: (word, why) => `Not ${word.toLowerCase()}: ${why}`,
    answering: "Its public answer is being prepared in the composer. The report stays here until the answer is sent; then it is marked false and linked.",
    goToAnswer: "Go to the answer",
    stopAnswering: "Stop answering",
    unreachable: "the server cannot be reached",
    people: (n) => `~${number(n)} people`,
    noText: "(no text)",
    citizen: "citizen",
    field: "field",
    majorIncident: "MAJOR INCIDENT",
    mMajor: "Major incident",
    mDeclared: "Declared",
    mNotDeclared: "Not declared",
    mLocation: "Exact location",
    mType: "Type",
    mHazards: "Hazards",
    mAccess: "Access",
    mCasualties: "Casualties",
    mServices: "Services",
    mPresent: (who) => `present: ${who}`,
    mRequired: (who) => `required: ${who}`,
  },
  it: {
    title: "Segnalazioni da verificare",
    none: "Nessuna segnalazione in attesa.",
    verify: "✓ Verifica",
    dismiss: "✕ Scarta",
    rumour: "È una voce…",
    dismissed: "Scartata",
    markedFalse: "Segnata come falsa e collegata",
    verified: "Verificata",
    undo: (s) => `Annulla (${s} s)`,
    tooLate: "Invio in corso…",
    undone: (word) => `${word}: annullato; la segnalazione è di nuovo da verificare.`,
    waiting: (word) => `${word}. Viene inviata tra ${UNDO_SECONDS} secondi, se non annulli.`,
    failed: (word, why) => `Non riuscito (${word.toLowerCase()}): ${why}`,
    answering: "La risposta pubblica si sta preparando nel compositore. La segnalazione resta qui finché la risposta non è inviata; poi viene segnata come falsa e collegata.",
    goToAnswer: "Vai alla risposta",
    stopAnswering: "Non rispondere più",
    unreachable: "il server non è raggiungibile",
    people: (n) => `~${number(n)} persone`,
    noText: "(senza testo)",
    citizen: "cittadino",
    field: "squadra sul campo",
    majorIncident: "MAXI-EMERGENZA",
    mMajor: "Maxi-emergenza",
    mDeclared: "Dichiarata",
    mNotDeclared: "Non dichiarata",
    mLocation: "Luogo esatto",
    mType: "Tipo",
    mHazards: "Pericoli",
    mAccess: "Accessi",
    mCasualties: "Coinvolti",
    mServices: "Soccorsi",
    mPresent: (who) => `presenti: ${who}`,
    mRequired: (who) => `necessari: ${who}`,
  },
};
const t = words(WORDS);

/** Where a report came from, in words ("citizen", "field"); the server's value when this page does not know it. */
const originWord = (origin) => (origin === "citizen" || origin === "field" ? t(origin) : String(origin ?? ""));

/** A METHANE report's seven headings, each under its letter. */
function methaneList(m) {
  const casualties = [Number.isFinite(m.casualties?.number) ? number(m.casualties.number) : null, m.casualties?.kind].filter(Boolean).join(", ");
  const services = [m.emergency_services?.present ? t("mPresent", m.emergency_services.present) : null,
    m.emergency_services?.required ? t("mRequired", m.emergency_services.required) : null].filter(Boolean).join("; ");
  const rows = [["M", t("mMajor"), m.major_incident ? t("mDeclared") : t("mNotDeclared")], ["E", t("mLocation"), m.exact_location],
    ["T", t("mType"), m.type], ["H", t("mHazards"), m.hazards], ["A", t("mAccess"), m.access], ["N", t("mCasualties"), casualties], ["E", t("mServices"), services]];
  return el("dl", { class: "methane-list" }, ...rows.flatMap(([letter, words, value]) => [
    el("dt", {}, el("span", { class: "letter", "aria-hidden": "true", text: letter }), words),
    el("dd", { text: value || "—" })]));
}

/**
 * `answerRumour(report)` prepares the public answer to a rumour in the
 * composer and returns `{ sent, cancel(), show() }` (`sent` resolves to the
 * broadcast once sent, or null when the answer is dropped); `register` is
 * the rumour register panel its entries come from.
 */
export function triagePanel(page, { answerRumour, register }) {
  const reports = new Map();
  // Open "Rumour…" forms by report id, kept across redraws so that what an
  // operator typed survives a new report arriving.
  const linkers = new Map();
  // Rumours whose answer is being prepared: id → { rumour, handle }.
  const answering = new Map();
  // Moderations waiting for their undo time: id → { status, rumour, word, deadline, timer, ticker, undo, committing }.
  const pending = new Map();
  // The last failed moderation of a report, shown on its card.
  const errors = new Map();
  // Each card's node, kept while its report and state stay the same, so that
  // a new report arriving does not take the focus from the one being worked on.
  const cards = new Map();
  let focusNext = null;
  const announcer = el("p", { id: "triage-status", class: "visually-hidden", role: "status" });
  const noneLine = el("p", { class: "none", text: t("none") });
  const panel = section(t("title"), "triage", noneLine);
  panel.append(announcer);
  const list = panel.querySelector("#triage");

  const secondsLeft = (p) => Math.max(1, Math.ceil((p.deadline - Date.now()) / 1000));

  function pendingCard(r, p) {
    p.undo = el("button", { type: "button", class: "undo", "data-act": "undo", text: t("undo", secondsLeft(p)), onclick: () => undo(r.id) });
    if (p.committing) {
      p.undo.disabled = true;
      p.undo.textContent = t("tooLate");
    }
    return el("article", { class: "report pending", "data-id": r.id }, el("span", { class: "pending-word", text: p.word }), " — ", p.undo);
  }

  function card(r) {
    const p = pending.get(r.id);
    if (p) return pendingCard(r, p);
    const answer = answering.get(r.id);
    const failure = errors.get(r.id);
    return el("article", { class: r.methane ? "report methane-card" : "report", "data-id": r.id },
      el("h3", { text: r.methane ? `METHANE${r.methane.major_incident ? ` · ${t("majorIncident")}` : ""} · ${categoryLabel(r.category)}` : `${categoryLabel(r.category)} · ${originWord(r.origin)}` }),
      ...(r.methane ? [methaneList(r.methane)] : [el("p", { text: [r.text, r.crowd_estimate ? t("people", r.crowd_estimate) : null].filter(Boolean).join(" · ") || t("noText") })]),
      ...(failure ? [el("p", { class: "form-error", role: "alert", text: failure })] : []),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "verify", "data-act": "verify", text: t("verify"), onclick: () => verify(r.id) }),
        el("button", { type: "button", class: "dismiss", "data-act": "dismiss", text: t("dismiss"), onclick: () => schedule(r.id, { status: "dismissed", word: t("dismissed") }) }),
        ...(answer ? [] : [el("button", { type: "button", class: "rumour", "data-act": "rumour", "aria-expanded": String(linkers.has(r.id)), text: t("rumour"), onclick: () => toggleLinker(r) })])),
      ...(answer ? [el("div", { class: "answering" },
        el("p", { text: t("answering") }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "goto", "data-act": "goto", text: t("goToAnswer"), onclick: () => answer.handle?.show?.() }),
          el("button", { type: "button", class: "stop", "data-act": "stop", text: t("stopAnswering"), onclick: () => stopAnswering(r.id) })))] : []),
      ...(linkers.has(r.id) && !answer ? [linkers.get(r.id)] : []));
  }

  /** What a card shows besides its report; a change rebuilds the card. */
  const state = (id) => [pending.has(id), pending.get(id)?.committing, linkers.has(id), answering.has(id), errors.get(id)].join("|");

  function render() {
    const waiting = [...reports.values()].filter((r) => r.status === "unverified").reverse();
    const focused = document.activeElement;
    let refocus = null;
    const nodes = waiting.map((r) => {
      const held = cards.get(r.id);
      if (held && held.report === r && held.state === state(r.id)) return held.node;
      const node = card(r);
      if (held?.node.contains(focused)) refocus = { node, act: focused.closest("[data-act]")?.dataset.act };
      cards.set(r.id, { report: r, state: state(r.id), node });
      return node;
    });
    const ids = new Set(waiting.map((r) => r.id));
    for (const id of [...cards.keys()]) if (!ids.has(id)) cards.delete(id);
    const shown = nodes.length ? nodes : [noneLine];
    // Only what moved is moved: a node taken out of the page loses the focus.
    shown.forEach((node, i) => { if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null); });
    while (list.children.length > shown.length) list.lastElementChild.remove();
    const wanted = focusNext ? { node: cards.get(focusNext.id)?.node, act: focusNext.act } : refocus;
    focusNext = null;
    if (wanted?.node) (wanted.node.querySelector(`[data-act="${wanted.act}"]`) ?? wanted.node.querySelector("button"))?.focus();
  }

  function toggleLinker(r) {
    if (linkers.has(r.id)) linkers.delete(r.id);
    else linkers.set(r.id, rumourLinker(register, r, { answer: (rumour) => answerIt(r, rumour), link: (rumour) => markFalse(r.id, rumour) }));
    focusNext = { id: r.id, act: "rumour" };
    render();
  }

  function markFalse(id, rumour) {
    linkers.delete(id);
    schedule(id, { status: "false", rumour, word: t("markedFalse") });
  }

  function answerIt(r, rumour) {
    const handle = answerRumour(r);
    linkers.delete(r.id);
    answering.set(r.id, { rumour, handle });
    render();
    handle?.sent.then((broadcast) => {
      if (answering.get(r.id)?.handle !== handle) return;
      answering.delete(r.id);
      if (broadcast && reports.get(r.id)?.status === "unverified") markFalse(r.id, rumour);
      else render();
    });
  }

  function stopAnswering(id) {
    answering.get(id)?.handle?.cancel();
    answering.delete(id);
    focusNext = { id, act: "rumour" };
    render();
  }

  /** Holds a moderation for UNDO_SECONDS, then sends it. */
  function schedule(id, { status, rumour, word }) {
    errors.delete(id);
    const p = { status, rumour, word, deadline: Date.now() + UNDO_SECONDS * 1000 };
    p.timer = setTimeout(() => commit(id), UNDO_SECONDS * 1000);
    p.ticker = setInterval(() => { if (p.undo && !p.committing) p.undo.textContent = t("undo", secondsLeft(p)); }, 250);
    pending.set(id, p);
    announcer.textContent = t("waiting", word);
    focusNext = { id, act: "undo" };
    render();
  }

  function forget(id) {
    const p = pending.get(id);
    if (!p) return null;
    clearTimeout(p.timer);
    clearInterval(p.ticker);
    pending.delete(id);
    return p;
  }

  function undo(id) {
    const p = pending.get(id);
    if (!p || p.committing) return;
    forget(id);
    announcer.textContent = t("undone", p.word);
    focusNext = { id, act: p.status === "dismissed" ? "dismiss" : "rumour" };
    render();
  }

  async function patch(id, body, { keepalive = false } = {}) {
    try {
      const resp = await fetch(`/api/v1/reports/${encodeURIComponent(id)}`, {
        method: "PATCH", keepalive, headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      return [resp.ok, await resp.json().catch(() => ({}))];
    } catch {
      return [false, { error: { message: t("unreachable") } }];
    }
  }

  /** A report as the server answered it, or as moderated when the answer says nothing more. */
  function moderated(id, status, answer) {
    const was = reports.get(id);
    reports.set(id, answer?.id === id ? { ...was, ...answer } : { ...was, status });
  }

  async function commit(id) {
    const p = pending.get(id);
    if (!p || p.committing) return;
    clearInterval(p.ticker);
    p.committing = true;
    render();
    const [ok, answer] = p.status === "false" ? await linkReport(page, register, id, p.rumour) : await patch(id, { status: p.status });
    forget(id);
    if (ok) moderated(id, p.status, answer);
    else errors.set(id, t("failed", p.word, answer?.error?.message ?? t("unreachable")));
    render();
  }

  async function verify(id) {
    const [ok, answer] = await patch(id, { status: "verified" });
    if (ok) {
      settled(id);
      moderated(id, "verified", answer);
    } else errors.set(id, t("failed", t("verified"), answer?.error?.message ?? t("unreachable")));
    render();
  }

  /** A report moderated (here or by another operator) leaves every waiting state. */
  function settled(id) {
    if (!pending.get(id)?.committing) forget(id);
    answering.get(id)?.handle?.cancel();
    answering.delete(id);
    linkers.delete(id);
  }

  async function load() {
    try {
      const waiting = await getJson("/api/v1/reports?status=unverified", page.token());
      for (const f of waiting.features) reports.set(f.properties.id, f.properties);
      render();
    } catch { /* the connection state says why */ }
  }

  // A page closed while a moderation waits sends it: the operator asked for it.
  window.addEventListener("pagehide", () => {
    for (const [id, p] of pending) {
      if (p.committing) continue;
      forget(id);
      patch(id, p.status === "false" ? { status: "false", rumour: p.rumour } : { status: p.status }, { keepalive: true });
    }
  });

  return {
    elements: [panel],
    subscriptions: () => [{ channel: "reports" }],
    on: {
      report(msg) {
        if (msg.report.status !== "unverified") settled(msg.report.id);
        reports.set(msg.report.id, msg.report);
        render();
      },
    },
    started: load,
  };
}
