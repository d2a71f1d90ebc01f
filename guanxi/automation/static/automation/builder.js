// The rule builder (automation/rule_form.html); no inline scripts under the CSP. Removing a row,
// a group or an action is web/list_views.js's [data-remove-row].

// The trigger's options: only those of the chosen trigger type are shown.
function showTriggerOptions() {
  const select = document.getElementById("id_trigger_type");
  if (!select) return;
  document.querySelectorAll(".trigger-options").forEach((box) => {
    box.hidden = box.getAttribute("data-trigger-type") !== select.value;
  });
}

// Actions are numbered in their order (the numbers the error messages use).
function numberSteps() {
  document.querySelectorAll("#steps .step-card .step-number").forEach((badge, n) => {
    badge.textContent = String(n + 1);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  showTriggerOptions();
  numberSteps();
});
document.addEventListener("htmx:afterSettle", numberSteps);

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.id === "id_trigger_type") {
    showTriggerOptions();
    return;
  }
  // Another object: the page starts again for it (its fields, triggers and actions differ).
  const reload = target.getAttribute && target.getAttribute("data-reload-with");
  if (reload) {
    if (target.value === target.getAttribute("data-current")) return;
    const url = new URL(window.location.href);
    url.searchParams.set(reload, target.value);
    ["name", "description"].forEach((name) => {
      const field = target.form && target.form.elements[name];
      if (field) url.searchParams.set(name, field.value);
    });
    window.location.assign(url.toString());
    return;
  }
  // The variable picker inserts {{ variable }} at the cursor of its text field.
  if (target.classList && target.classList.contains("var-picker") && target.value) {
    const field = document.getElementById(target.getAttribute("data-insert-into"));
    if (field) {
      const text = `{{ ${target.value} }}`;
      const start = field.selectionStart ?? field.value.length;
      const end = field.selectionEnd ?? field.value.length;
      field.value = field.value.slice(0, start) + text + field.value.slice(end);
      field.focus();
      field.setSelectionRange(start + text.length, start + text.length);
    }
    target.value = "";
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("[data-move-step]");
  if (button) {
    const card = button.closest(".step-card");
    if (button.getAttribute("data-move-step") === "up" && card.previousElementSibling) {
      card.parentNode.insertBefore(card, card.previousElementSibling);
    } else if (button.getAttribute("data-move-step") === "down" && card.nextElementSibling) {
      card.parentNode.insertBefore(card.nextElementSibling, card);
    }
    numberSteps();
  } else if (event.target.closest && event.target.closest("[data-remove-row]")) {
    window.setTimeout(numberSteps, 0);
  }
});
