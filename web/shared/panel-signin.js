// The sign-in overlay of the responders' pages: a token pasted by hand when
// none came in the link, or when the one held has expired.

import { el } from "/shared/dom.js";
import { words } from "/shared/i18n.js";

const t = words({ en: { signIn: "Sign in" }, it: { signIn: "Accedi" } });

export function signInPanel({ label, onToken }) {
  const input = el("input", { id: "token", autocomplete: "off", required: "" });
  const form = el("form", {}, el("label", { for: "token", text: label }), input, el("button", { text: t("signIn") }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    onToken(input.value.trim());
  });
  const element = el("div", { id: "signin" }, form);
  return {
    element,
    show(shown) {
      element.style.display = shown ? "grid" : "none";
    },
  };
}
