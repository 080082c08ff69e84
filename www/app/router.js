// A tiny client-side router for the /app/ demo. No frameworks.
//
// The server sends /app/index.html for every path under /app/ that is not
// a real file (HTML5 fallback), so this script decides what to show by
// reading location.pathname.
(function () {
  "use strict";

  var BASE = "/app";

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var routes = [
    {
      pattern: /^\/?$/,
      render: function () {
        return {
          title: "Home",
          body:
            "<p class=\"lead\">This page is a single HTML file that shows different views for different URLs.</p>" +
            "<p>Use the links above. Each click calls <code>history.pushState</code> and redraws this area " +
            "without asking the server for a new page. Then press reload on a deep link such as " +
            "<a href=\"/app/items/42\" data-route>/app/items/42</a>: the server has no such file, " +
            "so it falls back to <code>/app/index.html</code>, and the router draws the right view.</p>"
        };
      }
    },
    {
      pattern: /^\/about\/?$/,
      render: function () {
        return {
          title: "About this demo",
          body:
            "<p>The router lives in <code>/app/router.js</code>. It matches <code>location.pathname</code> " +
            "against a short list of patterns and renders into <code>&lt;main id=\"view\"&gt;</code>.</p>" +
            "<p>Every asset URL in <code>/app/index.html</code> is absolute. A relative " +
            "<code>router.js</code> would resolve to <code>/app/items/router.js</code> on a deep route, " +
            "and that file does not exist.</p>"
        };
      }
    },
    {
      pattern: /^\/items\/([^\/]+)\/?$/,
      render: function (m) {
        var id = decodeURIComponent(m[1]);
        return {
          title: "Item " + id,
          body:
            "<p>This is the detail view for item <strong>" + esc(id) + "</strong>.</p>" +
            "<p>The number came from the URL, not from the server. Try " +
            "<a href=\"/app/items/7\" data-route>item 7</a> or " +
            "<a href=\"/app/items/1000\" data-route>item 1000</a>.</p>"
        };
      }
    }
  ];

  function notFound(path) {
    return {
      title: "Not found in the app",
      body:
        "<p>The app has no view for <code>" + esc(path) + "</code>.</p>" +
        "<p><a href=\"/app/\" data-route>Go to the app home</a></p>"
    };
  }

  function resolve(pathname) {
    var rest = pathname.indexOf(BASE) === 0 ? pathname.slice(BASE.length) : null;
    if (rest === null) {
      return notFound(pathname);
    }
    for (var i = 0; i < routes.length; i++) {
      var m = rest.match(routes[i].pattern);
      if (m) {
        return routes[i].render(m);
      }
    }
    return notFound(pathname);
  }

  function render() {
    var path = location.pathname;
    var view = document.getElementById("view");
    var out;
    try {
      out = resolve(path);
    } catch (e) {
      out = notFound(path);
    }
    view.innerHTML =
      "<h1 id=\"route-title\">" + esc(out.title) + "</h1>" +
      out.body +
      "<div class=\"panel\"><dl><dt>location.pathname</dt><dd>" + esc(path) + "</dd></dl></div>";
    document.title = out.title + " · App · staged-server workbook";

    var links = document.querySelectorAll("#app-nav a[data-route]");
    for (var i = 0; i < links.length; i++) {
      var here = links[i].getAttribute("href").replace(/\/$/, "") === path.replace(/\/$/, "");
      if (here) {
        links[i].setAttribute("aria-current", "page");
      } else {
        links[i].removeAttribute("aria-current");
      }
    }
  }

  // Intercept clicks on in-app links so they do not reload the page.
  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
      return;
    }
    var a = ev.target.closest ? ev.target.closest("a[data-route]") : null;
    if (!a) {
      return;
    }
    var url = new URL(a.href, location.href);
    if (url.origin !== location.origin) {
      return;
    }
    ev.preventDefault();
    if (url.pathname !== location.pathname) {
      history.pushState(null, "", url.pathname);
    }
    render();
    window.scrollTo(0, 0);
  });

  window.addEventListener("popstate", render);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
