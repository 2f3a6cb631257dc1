// The API reference page: Swagger UI over the Studio's own schema, with the page's session.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle === "undefined") return;
  var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    // "Try it out" sends the session cookie; unsafe methods need the CSRF token as with any form.
    requestInterceptor: function (request) {
      if (csrf) request.headers["X-CSRFToken"] = csrf.value;
      return request;
    },
  });
})();
