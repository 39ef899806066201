// Starts Swagger UI on /docs. It is a file of its own rather than an inline script so that the
// page's Content-Security-Policy can allow scripts from the server only, nothing inline.
"use strict";

window.ui = SwaggerUIBundle({
  url: document.currentScript.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // Swagger UI's default would send the API document to validator.swagger.io for a badge.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
