// Customer list views (loaded by customers/list.html; no inline scripts under the CSP).
document.addEventListener("click", (event) => {
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const row = remove.closest(remove.getAttribute("data-remove-row"));
    if (row) row.remove();
    return;
  }
  const button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});

document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  const name = all.getAttribute("data-select-all");
  document.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((box) => {
    box.checked = all.checked;
  });
});

// htmx updates the address bar when the list is filtered: send people back to what they see.
document.addEventListener("submit", (event) => {
  event.target.querySelectorAll("input[data-current-url]").forEach((input) => {
    input.value = window.location.pathname + window.location.search;
  });
});
