// Building the pages' markup in script, since the CSP forbids inline
// scripts and the panels depend on the event. Text from users and posts is
// always inserted with textContent, never as HTML.

/** An element with attributes, `text` (as textContent), `on…` listeners and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** A titled panel of the side bar: the heading labels the region for screen readers. */
export function section(title, id, ...children) {
  return el("section", { "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, text: title }), el("div", { id }, ...children));
}

/** A `<select>` of `values`, `chosen` selected when it is one of them (else the first). */
export function select(attrs, values, chosen) {
  return el("select", attrs, ...values.map((v) => el("option", v === chosen ? { selected: "", text: v } : { text: v })));
}
