"""Who may call content's routes: the role dependencies its API uses. What a caller may do
to a particular post, comment, circle or poll is decided per object in
:mod:`.service.access`."""

from typing import Annotated

from kit.auth import OptionalPrincipal, Principal, require_roles
from services.content.service.access import STAFF_ROLES

Staff = Annotated[Principal, require_roles(*STAFF_ROLES)]
"""Staff or admin, by the token's roles."""

Viewer = OptionalPrincipal
"""Anyone; with a token, the viewer's own likes and bookmarks show, and their own held or
hidden posts."""
