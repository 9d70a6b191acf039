"""Replacement (remplacement): a remplaçant works under their own identity in the replaced doctor's context.

The replaced doctor opens the replacement for a remplaçant and closes it on return (an administrator may close it
too). While it is open, the remplaçant stays the author of what they produce — their own RPPS, their own login —
and the documents carry the mention « Dr <remplaçant>, remplaçant le Dr <remplacé> » (PDF author line, letters'
{{medecin.nom}}, and in the CDA header the replaced doctor as participant CON/CORRE, as the ANS eP-MED-DM 2024.01
example does for « PS remplacé »). The mention is derived from the replacement open when the document is made,
and frozen in the stored PDF and CDA.

At most one open replacement per remplaçant: the check runs under a row lock on both users (check-then-act), and
the database constraint `one_open_replacement` settles any race the lock cannot (SQLite has no row lock).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from caducee.accounts.models import Replacement, Role, User
from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.core.audit import audit_record
from caducee.core.models import AuditEvent

# Who may work as a remplaçant: a remplaçant, or a colleague médecin of the practice.
REMPLACANT_ROLES = (Role.REMPLACANT, Role.MEDECIN)


class ReplacementError(ValueError):
    """The replacement cannot be opened or closed as asked: a plain French message for the screen."""


# --- Selectors ---------------------------------------------------------------------------------


def open_replacement_for(user: Any) -> Replacement | None:
    """The replacement `user` is currently working in as remplaçant (with the replaced doctor), or None."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return None
    return (
        Replacement.objects.select_related("replaced")
        .filter(remplacant_id=user.pk, closed_at__isnull=True)
        .order_by("-opened_at", "-id")
        .first()
    )


def replacements_given(user: Any) -> QuerySet[Replacement]:
    """The replacements `user` gave (as the replaced doctor), newest first."""
    return (
        Replacement.objects.select_related("remplacant", "opened_by", "closed_by")
        .filter(replaced_id=user.pk)
        .order_by("-opened_at", "-id")
    )


def replacements_taken(user: Any) -> QuerySet[Replacement]:
    """The replacements `user` worked in (as remplaçant), newest first."""
    return (
        Replacement.objects.select_related("replaced", "closed_by")
        .filter(remplacant_id=user.pk)
        .order_by("-opened_at", "-id")
    )


def replacements_open() -> QuerySet[Replacement]:
    """Every open replacement of the practice (the administrator's list)."""
    return (
        Replacement.objects.select_related("replaced", "remplacant", "opened_by")
        .filter(closed_at__isnull=True)
        .order_by("-opened_at", "-id")
    )


def replacement_candidates(actor: Any) -> QuerySet[User]:
    """The users `actor` may choose as remplaçant: active remplaçants and médecins, not `actor`, not already
    working in a replacement, not themselves replaced at the moment."""
    busy = Replacement.objects.filter(closed_at__isnull=True)
    return (
        User.objects.filter(is_active=True, role__in=REMPLACANT_ROLES)
        .exclude(pk=actor.pk)
        .exclude(pk__in=busy.values("remplacant_id"))
        .exclude(pk__in=busy.values("replaced_id"))
        .order_by("last_name", "first_name", "username")
    )


def replacement_mention(replacement: Replacement) -> str:
    """« Dr <remplaçant>, remplaçant le Dr <remplacé> »: how the remplaçant signs while replacing."""
    return f"{replacement.remplacant.display_name()}, remplaçant le {replacement.replaced.display_name()}"


def signature_name(user: User) -> str:
    """The name `user` signs a document with now: with the replacement mention while replacing a doctor."""
    current = open_replacement_for(user)
    if current is None:
        return user.display_name()
    current.remplacant = user  # already in memory: no query for it
    return replacement_mention(current)


# --- Services ----------------------------------------------------------------------------------


def _refused(actor: Any, action: str, reason: str, request: HttpRequest | None, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="replacement",
        object_id=detail.pop("object_id", ""),
        outcome=AuditEvent.Outcome.REFUSED,
        detail={"raison": reason, **detail},
        request=request,
    )


def replacement_open(*, actor: Any, remplacant: User, request: HttpRequest | None = None) -> Replacement:
    """`actor`, a médecin, opens a replacement: `remplacant` works in their context from now until it is closed.

    PermissionDenied when `actor` is not an active médecin; ReplacementError (French) when `remplacant` cannot
    replace them (themself, inactive, not a remplaçant or médecin, already replacing someone, replaced themself).
    Refusals are audited too.
    """
    try:
        check_permission(actor, Perm.CLINICAL_WRITE)
        if actor.role != Role.MEDECIN:
            raise PermissionDenied("Seul un médecin peut ouvrir un remplacement, pour lui-même.")
    except PermissionDenied as exc:
        _refused(actor, "replacement.open", str(exc), request, remplacant=remplacant.pk)
        raise
    try:
        with transaction.atomic():
            # Lock both users (in pk order, so two opposite requests cannot deadlock): concurrent opens involving
            # them wait here, then see each other's replacement (PostgreSQL; SQLite serialises writers anyway).
            list(User.objects.select_for_update().filter(pk__in=(actor.pk, remplacant.pk)).order_by("pk"))
            _check_open(actor, remplacant)
            try:
                with transaction.atomic():  # a savepoint: the constraint error leaves the outer transaction usable
                    replacement = Replacement.objects.create(replaced=actor, remplacant=remplacant, opened_by=actor)
            except IntegrityError as exc:
                # one_open_replacement: another request opened one for this remplaçant since the check.
                raise ReplacementError(
                    f"{remplacant.display_name()} est déjà en remplacement : un seul remplacement ouvert à la fois."
                ) from exc
            audit_record(
                actor=actor,
                action="replacement.open",
                object_type="replacement",
                object_id=replacement.pk,
                detail={"remplace": actor.pk, "remplacant": remplacant.pk},
                request=request,
            )
    except ReplacementError as exc:
        _refused(actor, "replacement.open", str(exc), request, remplacant=remplacant.pk)
        raise
    return replacement


def _check_open(actor: User, remplacant: User) -> None:
    if remplacant.pk == actor.pk:
        raise ReplacementError("Vous ne pouvez pas être votre propre remplaçant.")
    if not remplacant.is_active:
        raise ReplacementError(f"Le compte de {remplacant.display_name()} est désactivé.")
    if remplacant.role not in REMPLACANT_ROLES:
        raise ReplacementError(
            f"{remplacant.display_name()} n'est ni remplaçant ni médecin : il ne peut pas vous remplacer."
        )
    busy = Replacement.objects.select_related("replaced").filter(closed_at__isnull=True)
    taken = busy.filter(remplacant=remplacant).first()
    if taken is not None:
        raise ReplacementError(
            f"{remplacant.display_name()} remplace déjà le {taken.replaced.display_name()} "
            f"depuis le {timezone.localtime(taken.opened_at):%d/%m/%Y à %H:%M} : un seul remplacement ouvert à la fois."
        )
    if busy.filter(replaced=remplacant).exists():
        raise ReplacementError(f"{remplacant.display_name()} est lui-même remplacé en ce moment.")
    if busy.filter(remplacant=actor).exists():
        raise ReplacementError(
            "Vous êtes vous-même en remplacement d'un confrère : il doit y mettre fin avant que vous ne vous fassiez "
            "remplacer."
        )


def replacement_close(*, actor: Any, replacement: Replacement, request: HttpRequest | None = None) -> Replacement:
    """End `replacement` (the replaced doctor on return, or an administrator). From now on the remplaçant's new
    documents no longer carry the mention. PermissionDenied for anyone else; ReplacementError when already closed."""
    allowed = (
        getattr(actor, "is_authenticated", False)
        and actor.is_active
        and (actor.pk == replacement.replaced_id or has_permission(actor, Perm.PRACTICE_MANAGE))
    )
    if not allowed:
        reason = "Seul le médecin remplacé ou un administrateur peut mettre fin à ce remplacement."
        _refused(actor, "replacement.close", reason, request, object_id=replacement.pk)
        raise PermissionDenied(reason)
    try:
        with transaction.atomic():
            locked = Replacement.objects.select_for_update().get(pk=replacement.pk)  # two clicks close it once
            if locked.closed_at is not None:
                raise ReplacementError("Ce remplacement est déjà terminé.")
            locked.closed_at = timezone.now()
            locked.closed_by = actor
            locked.save(update_fields=["closed_at", "closed_by"])
            audit_record(
                actor=actor,
                action="replacement.close",
                object_type="replacement",
                object_id=locked.pk,
                detail={"remplace": locked.replaced_id, "remplacant": locked.remplacant_id},
                request=request,
            )
    except ReplacementError as exc:
        _refused(actor, "replacement.close", str(exc), request, object_id=replacement.pk)
        raise
    replacement.closed_at, replacement.closed_by = locked.closed_at, actor
    return replacement
