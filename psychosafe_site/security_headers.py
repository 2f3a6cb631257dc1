"""Content-Security-Policy and Permissions-Policy on every response.

The policy itself is `CONTENT_SECURITY_POLICY` in settings (django-csp's format); docs/security.md
explains each directive and how to add a script or a style without weakening it.
"""

from csp.constants import NONE, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

# matplotlib styles its SVG with a <style> block and style attributes, which the page policy
# refuses. A plot opened on its own (its download link) is a document of its own, so an SVG
# response gets this policy instead: no scripts, no requests, inline styles only.
SVG_POLICY = {
    "default-src": [NONE],
    "style-src": [UNSAFE_INLINE],
    "img-src": ["data:"],
    "frame-ancestors": [NONE],
}


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with a nonce on every HTML page and a policy of their own for SVG.

    django-csp adds the nonce to the header only when a template asked for it, so a page's policy
    would depend on which templates it happened to include; every HTML page gets one instead.
    """

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("text/html"):
            str(request.csp_nonce)  # draws the nonce
        return super().process_response(request, response)

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None and response.get("Content-Type", "").startswith("image/svg+xml"):
            parts.config = SVG_POLICY
        return parts


class PermissionsPolicyMiddleware:
    """Sends `PERMISSIONS_POLICY` ({feature: [allowed origins]}; [] turns the feature off)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(origins)})" for feature, origins in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.header)
        return response
