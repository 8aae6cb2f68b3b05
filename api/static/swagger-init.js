// Swagger UI on Panda's own OpenAPI document. validatorUrl: null keeps the
// page from asking validator.swagger.io about it (and the CSP would refuse).
window.ui = SwaggerUIBundle({
  url: "../api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
});
