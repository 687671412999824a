"""One router per resource; api.app includes them all, the panel's JSON API under `/api`."""
