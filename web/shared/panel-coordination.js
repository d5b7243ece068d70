// Coordinated posting in the alerts panel (DESIGN §10): a card per
// coordination alert saying how many near-identical posts from how many
// accounts, since when and where, with the sample text, and the
// operator's decision to discount the cluster (its posts stop counting
// everywhere; the server does it) or restore it, each for a stated reason.
// While the card is hovered or focused the map outlines the cluster's cells.

import { getJson } from "/shared/campanile.js";
import { el } from "/shared/dom.js";
import { clock, number, words } from "/shared/i18n.js";
import { maskedText, reasonForm } from "/shared/panel-posts.js";

/** How often the clusters are read again while a card shows: another operator may decide. */
const REFRESH_TICKS = 15;

const t = words({
  en: {
    discountedBy: (by, time, reason) => `Discounted by ${by} ${time}: ${reason}`,
    restoredBy: (by, time, reason) => `Restored by ${by} ${time}: ${reason}`,
    title: "Coordinated posting",
    line: (size, accounts, since, place) => ` — ${size} near-identical posts from ${accounts} accounts since ${since}${place ? ` at ${place}` : ""}`,
    raised: (time) => `raised ${time}`,
    showOnMap: "Show on map",
    noDecision: "Counting in the crowd picture: no decision yet.",
    restore: "Restore",
    discount: "Discount",
    restoreLabel: (place) => `Restore the coordinated posts${place ? ` at ${place}` : ""}`,
    discountLabel: (place) => `Discount the coordinated posts${place ? ` at ${place}` : ""}`,
    whyDiscount: "Why discount these posts? (written to the audit log)",
    whyRestore: "Why restore these posts? (written to the audit log)",
    discountCluster: "Discount cluster",
    restoreCluster: "Restore cluster",
  },
  it: {
    discountedBy: (by, time, reason) => `Esclusi da ${by} alle ${time}: ${reason}`,
    restoredBy: (by, time, reason) => `Ripristinati da ${by} alle ${time}: ${reason}`,
    title: "Pubblicazione coordinata",
    line: (size, accounts, since, place) => ` — ${size} post quasi identici da ${accounts} account dalle ${since}${place ? ` in ${place}` : ""}`,
    raised: (time) => `segnalato alle ${time}`,
    showOnMap: "Mostra sulla mappa",
    noDecision: "Conteggiati nel quadro della folla: nessuna decisione per ora.",
    restore: "Ripristina",
    discount: "Escludi",
    restoreLabel: (place) => `Ripristina i post coordinati${place ? ` in ${place}` : ""}`,
    discountLabel: (place) => `Escludi i post coordinati${place ? ` in ${place}` : ""}`,
    whyDiscount: "Perché escludere questi post? (scritto nel registro di controllo)",
    whyRestore: "Perché ripristinare questi post? (scritto nel registro di controllo)",
    discountCluster: "Escludi il gruppo",
    restoreCluster: "Ripristina il gruppo",
  },
});

/** "Discounted by alice 21:10: reason", or null before any decision. */
export function decisionLine(d) {
  if (!d || typeof d !== "object") return null;
  return t(d.discounted ? "discountedBy" : "restoredBy", d.by, clock(d.at), d.reason);
}

/**
 * The coordination cards of one alerts panel. A card is kept across the
 * panel's redraws (the same node), so that a reason half typed survives a
 * new alert arriving.
 */
export function coordinationCards(page) {
  const clusters = new Map(); // cluster id → the server's latest view of it
  const cards = new Map(); // alert id → { node, update }
  let ticks = 0;

  function remember(view) {
    clusters.set(view.id, view);
    for (const c of cards.values()) if (c.cluster === view.id) c.update();
  }

  let reading = null;
  let again = false;
  // A history of alerts makes many cards at once: one read at a time, and one more if asked meanwhile.
  function refresh() {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      do {
        again = false;
        const token = page.token();
        if (!token) break;
        try {
          const { clusters: views } = await getJson("/api/v1/clusters", token);
          views.forEach(remember);
        } catch { /* a commander may not read clusters; the connection state says the rest */ }
      } while (again);
      reading = null;
    })();
    return reading;
  }

  function build(a) {
    const title = el("strong", { text: t("title") });
    const line = el("span");
    const sample = el("blockquote", { class: "sample" });
    const decision = el("p", { class: "decision", "aria-live": "polite" });
    const showButton = el("button", { type: "button", text: t("showOnMap") });
    const decide = el("button", { type: "button", class: "decide" });
    const actions = el("div", { class: "actions" }, showButton, decide);
    const node = el("article", { class: "alert-card coordination", tabindex: "0", "data-cluster": a.cluster, "aria-labelledby": `coord-${a.id}` },
      el("p", { id: `coord-${a.id}`, class: "coord-title" }, title, line),
      sample, decision, actions,
      el("time", { datetime: a.raised_at, text: t("raised", clock(a.raised_at)) }));
    const cells = () => clusters.get(a.cluster)?.cells ?? a.cells ?? [];
    const show = () => page.map.fitCells(cells());
    const highlight = () => page.map.setHighlight(cells());
    const unhighlight = () => page.map.setHighlight([]);
    node.addEventListener("mouseenter", highlight);
    node.addEventListener("mouseleave", () => { if (!node.contains(document.activeElement)) unhighlight(); });
    node.addEventListener("focusin", highlight);
    node.addEventListener("focusout", (e) => { if (!node.contains(e.relatedTarget)) unhighlight(); });
    node.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === node) show(); });
    showButton.addEventListener("click", show);

    let open = null;
    let discounted = false;
    function update() {
      const view = clusters.get(a.cluster);
      const size = view?.size ?? a.size;
      const contributors = view?.contributors ?? a.contributors;
      const place = view?.place || a.place;
      line.textContent = t("line", number(size), number(contributors), clock(view?.first_seen ?? a.first_seen), place);
      sample.replaceChildren(...maskedText(view?.sample ?? a.sample ?? ""));
      const said = decisionLine(view?.decision);
      decision.textContent = said ?? t("noDecision");
      discounted = Boolean(view?.discounted);
      node.classList.toggle("discounted", discounted);
      decide.textContent = discounted ? t("restore") : t("discount");
      decide.setAttribute("aria-label", discounted ? t("restoreLabel", place) : t("discountLabel", place));
    }

    decide.addEventListener("click", () => {
      const discount = !discounted;
      const close = () => {
        open?.form.remove();
        open = null;
        actions.hidden = false;
      };
      close();
      open = reasonForm({
        id: `decide-reason-${a.id}`,
        label: discount ? t("whyDiscount") : t("whyRestore"),
        action: discount ? t("discountCluster") : t("restoreCluster"),
        act: async (reason) => {
          const resp = await fetch(`/api/v1/clusters/${encodeURIComponent(a.cluster)}/${discount ? "discount" : "restore"}`, {
            method: "POST", headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" }, body: JSON.stringify({ reason }),
          });
          const answer = await resp.json().catch(() => ({}));
          if (!resp.ok) throw new Error(answer?.error?.message || `HTTP ${resp.status}`);
          close();
          remember(answer);
          decide.focus();
        },
        onCancel: () => {
          close();
          decide.focus();
        },
      });
      actions.hidden = true;
      actions.after(open.form);
      open.focus();
    });

    update();
    return { node, update, cluster: a.cluster };
  }

  return {
    /** The card of coordination alert `a`, the same node on every redraw. */
    card(a) {
      const key = a.id ?? `${a.cluster}@${a.raised_at}`;
      if (!cards.has(key)) {
        cards.set(key, build(a));
        refresh();
      }
      return cards.get(key).node;
    },
    /** Forgets the cards no longer shown. */
    keep(alerts) {
      const kept = new Set(alerts.map((a) => a.id ?? `${a.cluster}@${a.raised_at}`));
      for (const key of cards.keys()) if (!kept.has(key)) cards.delete(key);
    },
    started: refresh,
    tick() {
      if (cards.size && ++ticks % REFRESH_TICKS === 0) refresh();
    },
  };
}
