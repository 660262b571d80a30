// The ranking widget: turns each question's select boxes into a list the participant
// orders by dragging (mouse or touch), by arrow keys, or by up/down buttons. The select
// boxes stay in the form (hidden) and are what gets submitted, so the server sees the
// same fields with or without JavaScript.
(function () {
  "use strict";
  var form = document.querySelector("form.ranking");
  if (!form) return;
  var text = JSON.parse(document.getElementById("ranking-text").textContent);
  var announcer = document.getElementById("announcer");

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  // --- time on page, counting only while the page is visible ---------------------------
  var visibleMs = 0;
  var since = document.visibilityState === "visible" ? performance.now() : null;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { since = performance.now(); }
    else if (since !== null) { visibleMs += performance.now() - since; since = null; }
  });
  form.addEventListener("submit", function (event) {
    // The proposed order is only a starting point: each question needs a move or an
    // explicit "keep this order", so nobody submits the shuffled order by accident.
    var open = Array.prototype.filter.call(form.querySelectorAll("ol.sortable"), function (list) {
      return list.getAttribute("data-answered") !== "yes";
    });
    if (open.length) {
      event.preventDefault();
      showProblems(open.map(function (list) {
        return format(text.unanswered, { number: list.getAttribute("data-number") });
      }));
      open[0].parentNode.querySelector("button.keep").focus();
      return;
    }
    var total = visibleMs + (since !== null ? performance.now() - since : 0);
    form.elements.page_ms.value = String(Math.round(total));
    var button = form.querySelector("button[type=submit]");
    // Disable after the browser has taken the submission, so a double click sends once.
    setTimeout(function () { if (button) button.disabled = true; }, 0);
  });

  // --- one sortable list per question -----------------------------------------------------
  var hint = document.createElement("p");
  hint.id = "sort-hint";
  hint.className = "visually-hidden";
  hint.textContent = text.handle;
  form.appendChild(hint);
  Array.prototype.forEach.call(form.querySelectorAll("fieldset.item"), setUpItem);
  setUpViewer();
  keepControlsClearOfTheImages();

  // --- the image strip -------------------------------------------------------------------
  // Whatever scrolls into view (keyboard focus, an error, a drag) lands below the sticky
  // strip, not under it: the page's scroll padding follows the strip's real height.
  function keepControlsClearOfTheImages() {
    var gallery = document.getElementById("gallery");
    if (!gallery) return;
    var update = function () {
      var sticky = getComputedStyle(gallery).position === "sticky";
      document.documentElement.style.scrollPaddingTop =
        sticky ? Math.ceil(gallery.getBoundingClientRect().height + 8) + "px" : "0px";
    };
    update();
    window.addEventListener("resize", update);
    Array.prototype.forEach.call(gallery.querySelectorAll("img"), function (img) {
      img.addEventListener("load", update);
    });
  }

  // Any image opens large in a dialog (click, tap, Enter or Space on its link); the
  // arrow keys step through the images, Escape or Close returns to the page.
  function setUpViewer() {
    var viewer = document.getElementById("viewer");
    if (!viewer || typeof viewer.showModal !== "function") return;  // the link opens it
    var links = Array.prototype.slice.call(document.querySelectorAll("#gallery a.enlarge"));
    var picture = document.getElementById("viewer-image");
    var name = document.getElementById("viewer-name");
    var current = 0;
    function show(index) {
      current = (index + links.length) % links.length;
      var letter = links[current].getAttribute("data-letter");
      picture.src = links[current].getAttribute("href");
      picture.alt = format(text.image, { letter: letter });
      name.textContent = format(text.image, { letter: letter });
    }
    links.forEach(function (link, index) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        show(index);
        viewer.showModal();
        viewer.querySelector(".viewer-close").focus();
      });
      // A link answers Enter by itself; Space is what a button would take.
      link.addEventListener("keydown", function (event) {
        if (event.key === " ") { event.preventDefault(); link.click(); }
      });
    });
    viewer.querySelector(".viewer-close").addEventListener("click", function () { viewer.close(); });
    Array.prototype.forEach.call(viewer.querySelectorAll(".viewer-step"), function (button) {
      button.addEventListener("click", function () {
        show(current + parseInt(button.getAttribute("data-step"), 10));
      });
    });
    viewer.addEventListener("keydown", function (event) {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        show(current + (event.key === "ArrowLeft" ? -1 : 1));
      }
    });
    // A tap or click outside the picture (on the backdrop) closes it too.
    viewer.addEventListener("click", function (event) { if (event.target === viewer) viewer.close(); });
    viewer.addEventListener("close", function () { links[current].focus(); });
  }

  function setUpItem(fieldset, index) {
    var holder = fieldset.querySelector(".rank-selects");
    var selects = Array.prototype.slice.call(holder.querySelectorAll("select"));
    var count = selects.length;
    var values = selects.map(function (s) { return parseInt(s.value, 10); });
    var complete = values.every(function (v) { return v >= 1 && v <= count; }) &&
      new Set(values).size === count;
    var order = selects.slice();
    // After a refused submission the boxes hold the participant's ranking: keep it.
    if (complete) order.sort(function (a, b) { return parseInt(a.value, 10) - parseInt(b.value, 10); });
    var list = document.createElement("ol");
    var number = index + 1;
    list.className = "sortable";
    list.setAttribute("aria-label", format(text.list, { number: number }));
    list.setAttribute("data-number", String(number));
    list.setAttribute("data-answered", complete ? "yes" : "no");
    order.forEach(function (select) { list.appendChild(makeRow(select, list)); });
    // What the top and the bottom of the list mean, right at the list: the question
    // itself may have scrolled under the images by the time a row is moved.
    var best = endLabel("best", "1 = " + fieldset.getAttribute("data-best"));
    var worst = endLabel("worst", count + " = " + fieldset.getAttribute("data-worst"));
    var keep = document.createElement("button");
    keep.type = "button";
    keep.className = "keep";
    keep.textContent = text.keep;
    keep.setAttribute("aria-label", format(text.keepFor, { number: number }));
    keep.addEventListener("click", function () {
      answered(list);
      announcer.textContent = format(text.kept, { number: number });
    });
    holder.hidden = true;
    fieldset.appendChild(best);
    fieldset.appendChild(list);
    fieldset.appendChild(worst);
    fieldset.appendChild(keep);
    sync(list);
  }

  function endLabel(kind, words) {
    var label = document.createElement("p");
    label.className = "end-label " + kind;
    label.setAttribute("aria-hidden", "true");  // the fieldset's description says it
    label.textContent = words;
    return label;
  }

  function answered(list) {
    list.setAttribute("data-answered", "yes");
    list.parentNode.classList.add("answered");
    list.parentNode.querySelector("button.keep").setAttribute("aria-pressed", "true");
    sync(list);
  }

  function showProblems(messages) {
    var box = document.getElementById("errors");
    if (!box) {
      box = document.createElement("div");
      box.id = "errors";
      box.className = "errors";
      box.setAttribute("role", "alert");
      form.parentNode.insertBefore(box, form);
    }
    box.textContent = "";
    var items = document.createElement("ul");
    messages.forEach(function (message) {
      var item = document.createElement("li");
      item.textContent = message;
      items.appendChild(item);
    });
    box.appendChild(items);
  }

  function makeRow(select, list) {
    var letter = select.getAttribute("data-letter");
    var row = document.createElement("li");
    row.className = "rank-row";
    row.tabIndex = 0;
    row.setAttribute("data-field", select.id);
    row.setAttribute("data-letter", letter);
    row.setAttribute("aria-describedby", "sort-hint");

    var number = document.createElement("span");
    number.className = "rank-number";
    number.setAttribute("aria-hidden", "true");
    var handle = document.createElement("span");
    handle.className = "handle";
    handle.setAttribute("aria-hidden", "true");
    handle.textContent = "\u2630";
    var thumb = document.createElement("img");
    thumb.src = select.getAttribute("data-src");
    thumb.alt = "";
    thumb.draggable = false;
    var name = document.createElement("span");
    name.className = "letter";
    name.textContent = format(text.image, { letter: letter });
    var moves = document.createElement("span");
    moves.className = "moves";
    moves.appendChild(moveButton("up", "\u2191", -1, letter, row, list));
    moves.appendChild(moveButton("down", "\u2193", 1, letter, row, list));
    [number, handle, thumb, name, moves].forEach(function (el) { row.appendChild(el); });

    row.addEventListener("keydown", function (event) {
      if (event.target !== row) return;
      if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        event.preventDefault();
        move(row, list, event.key === "ArrowUp" ? -1 : 1);
        row.focus();
      }
    });
    enableDragging(row, list, handle);
    return row;
  }

  function moveButton(kind, symbol, delta, letter, row, list) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = kind;
    button.textContent = symbol;
    button.setAttribute("aria-label", format(text[kind], { letter: letter }));
    button.addEventListener("click", function () { move(row, list, delta); button.focus(); });
    return button;
  }

  function move(row, list, delta) {
    if (delta < 0 && row.previousElementSibling) {
      list.insertBefore(row, row.previousElementSibling);
    } else if (delta > 0 && row.nextElementSibling) {
      list.insertBefore(row.nextElementSibling, row);
    }
    answered(list);
    announce(row, list);
  }

  // Pointer events cover mouse, pen and touch. On touch only the handle starts a drag,
  // so the rest of the row still scrolls the page.
  function enableDragging(row, list, handle) {
    row.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || event.target.closest("button")) return;
      if (event.pointerType !== "mouse" && event.target !== handle) return;
      event.preventDefault();
      row.classList.add("dragging");
      var onMove = function (moveEvent) {
        if (moveEvent.pointerId !== event.pointerId) return;
        var under = document.elementFromPoint(moveEvent.clientX, moveEvent.clientY);
        var target = under && under.closest(".rank-row");
        if (!target || target === row || target.parentNode !== list) return;
        var box = target.getBoundingClientRect();
        if (moveEvent.clientY < box.top + box.height / 2) list.insertBefore(row, target);
        else list.insertBefore(row, target.nextElementSibling);
        sync(list);
      };
      var onUp = function (upEvent) {
        if (upEvent.pointerId !== event.pointerId) return;
        row.classList.remove("dragging");
        document.removeEventListener("pointermove", onMove);
        document.removeEventListener("pointerup", onUp);
        document.removeEventListener("pointercancel", onUp);
        answered(list);
        announce(row, list);
        row.focus();
      };
      // Listening on the document keeps the drag alive when the pointer leaves the row.
      document.addEventListener("pointermove", onMove);
      document.addEventListener("pointerup", onUp);
      document.addEventListener("pointercancel", onUp);
    });
  }

  // Writes the list's order into the select boxes, once the participant has answered.
  function sync(list) {
    var rows = list.querySelectorAll(".rank-row");
    var isAnswered = list.getAttribute("data-answered") === "yes";
    Array.prototype.forEach.call(rows, function (row, i) {
      var rank = String(i + 1);
      document.getElementById(row.getAttribute("data-field")).value = isAnswered ? rank : "";
      row.querySelector(".rank-number").textContent = rank;
      row.setAttribute("aria-label",
        format(text.image, { letter: row.getAttribute("data-letter") }) + ", " +
        format(text.rank, { rank: rank }));
    });
  }

  function announce(row, list) {
    var rows = Array.prototype.slice.call(list.querySelectorAll(".rank-row"));
    announcer.textContent = format(text.moved, {
      letter: row.getAttribute("data-letter"),
      rank: rows.indexOf(row) + 1,
      count: rows.length,
    });
  }
})();
