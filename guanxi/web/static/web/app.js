// Small behaviours without inline scripts (the Content-Security-Policy forbids them).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Tabs whose panel htmx loads in place (role="tab" links): the clicked tab becomes the selected one.
document.addEventListener("click", (event) => {
  const tab = event.target.closest && event.target.closest('[role="tab"]');
  const list = tab && tab.closest('[role="tablist"]');
  if (!list) return;
  list.querySelectorAll('[role="tab"]').forEach((other) => {
    other.classList.toggle("active", other === tab);
    other.setAttribute("aria-selected", other === tab ? "true" : "false");
  });
  const panel = document.getElementById(tab.getAttribute("aria-controls"));
  if (panel) panel.setAttribute("aria-labelledby", tab.id);
});

// Date and time inputs in the page's language. A native <input type="date"> shows the browser's
// locale (mm/dd/yyyy in a Chinese page on an English browser) whatever the page's lang says, so the
// inputs become text inputs with a calendar in the page's language (flatpickr). Values stay what the
// server reads: 2026-03-02 and 2026-03-02 10:00; typed dates may also use / or 年月日.
function parseTypedDate(text) {
  const m = String(text).trim().replace("T", " ")
    .match(/^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s*(\d{1,2})[:：](\d{2}))?/);
  if (!m) return undefined;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0), Number(m[5] || 0));
}

function localizeDateInputs(root) {
  if (!window.flatpickr || !root.querySelectorAll) return;
  const html = document.documentElement;
  const zh = html.lang.toLowerCase().startsWith("zh");
  root.querySelectorAll('input[type="date"], input[type="datetime-local"]').forEach((input) => {
    const withTime = input.type === "datetime-local";
    // A native input drops a value it cannot read (Django renders 1990/05/17 in Chinese): keep it.
    const value = input.value || input.getAttribute("value") || "";
    input.type = "text";
    input.value = value;
    input.autocomplete = "off";
    input.inputMode = "numeric";
    if (!input.placeholder) {
      input.placeholder = (withTime ? html.dataset.datetimeHint : html.dataset.dateHint) || "";
    }
    window.flatpickr(input, {
      allowInput: true,
      enableTime: withTime,
      time_24hr: true,
      disableMobile: true,
      dateFormat: withTime ? "Y-m-d H:i" : "Y-m-d",
      parseDate: parseTypedDate,
      locale: zh && window.flatpickr.l10ns.zh ? window.flatpickr.l10ns.zh : "default",
    });
  });
}
document.addEventListener("DOMContentLoaded", () => localizeDateInputs(document));
document.addEventListener("htmx:load", (event) => localizeDateInputs(event.target));
