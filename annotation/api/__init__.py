"""The Studio's JSON API (v1): Django REST framework views over the same workflow functions the pages call.

Layout: `tokens` (personal API tokens), `authentication` and `throttling` (who is calling, how
often), `problems` (the one error shape), `permissions` (the roles of annotation.roles),
`serializers`, `views/` (one module per concept, like annotation/views/), `urls` (under /api/v1/).
"""
