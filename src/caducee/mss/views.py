"""The MSSanté screens (issue 5 §6): inbox, message, work list, sent messages, "Envoyer".

- Inbox: professionals' and patients' messages on two tabs (SC.MSS/UX.25), patients shown by nom de naissance,
  premier prénom and INS (UX.31), unread filter, full-text search, subject without `XDM/1.0/DDM+` (UX.28).
- Message: its documents with their integration state; "Ajouter aux correspondants" (ANNU/GEN.03).
- Work list: each waiting document with its candidates and similarity scores, one click to attach (UX.09–12).
- Envoyer: recipients pre-proposed (médecin traitant, adresseur, the patient when QUAL), a search over the address
  book and the Annuaire, "joindre le VSM", one click to send; the message goes through the outbox.
Every screen requires Perm.CLINICAL_READ (a secretary sees no medical data) and every action Perm.CLINICAL_WRITE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from caducee.accounts.models import Role, User
from caducee.accounts.permissions import Perm, check_permission, has_permission
from caducee.core.audit import audit_patient_read, audit_record
from caducee.core.inputs import id_or_404, model_max_length, parse_id, too_long
from caducee.core.text import search_key
from caducee.documents.models import Document
from caducee.documents.selectors import visible_documents
from caducee.documents.sharing_matrix import (
    mss_patient_default_reason,
    mss_ps_default_reason,
    mss_to_medecin_traitant_default,
)
from caducee.mss import selectors
from caducee.mss.annuaire.search import directory_query
from caducee.mss.compose import display_subject
from caducee.mss.conversations import patient_conversation
from caducee.mss.models import (
    DirectoryEntry,
    InboundMessage,
    Mailbox,
    MailboxKind,
    OutboundMessage,
    ReceivedDocument,
)
from caducee.mss.receipts import mdn_send
from caducee.mss.selectors import Recipient, mailbox_for, patient_mss_address, proposed_recipients
from caducee.mss.services import (
    SUBJECT_MAX,
    MssServiceError,
    mailbox_declare,
    mss_conversation_end,
    mss_send,
    mss_send_test_message,
)
from caducee.mss.sync import sync_mailbox
from caducee.mss.worklist import rescore_worklist, worklist_attach
from caducee.patients.correspondents import (
    correspondent_from_directory,
    correspondent_from_sender,
    correspondent_join_care_team,
)
from caducee.patients.models import Correspondent, CorrespondentRole, Patient
from caducee.patients.selectors import role_for_profession

SUMMARY_MODELS = ("vsm", "ips")


def _patient(value: str | None) -> Patient:
    """The patient named by a form or query parameter; 404 (never a server error) for a missing or malformed id."""
    patient_id = id_or_404(value, "Patient non précisé.")  # ASCII digits in range: "²".isdigit() (issue 13 §4)
    return get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)


CLINICAL_ROLES = (Role.MEDECIN, Role.REMPLACANT, Role.INTERNE, Role.PARAMEDICAL, Role.ASSISTANT)


def inbox_view(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    filters = selectors.InboxFilters(
        tab="patients" if request.GET.get("onglet") == "patients" else "pro",
        unread=request.GET.get("non_lus") == "1",
        q=request.GET.get("q", "")[:200],
    )
    rows = selectors.inbox(request.user, filters)
    audit_record(actor=request.user, action="mss.inbox", object_type="mailbox", request=request)
    return render(
        request,
        "mss/inbox.html",
        {
            "rows": [(m, display_subject(m.subject)) for m in rows],
            "filters": filters,
            "unread": selectors.unread_count(request.user),
            "worklist_count": ReceivedDocument.objects.filter(state=ReceivedDocument.State.WORKLIST).count(),
            "limit": selectors.LIST_LIMIT,
        },
    )


def _message_for(request: HttpRequest, message_id: int) -> InboundMessage:
    message = get_object_or_404(InboundMessage.objects.select_related("mailbox", "patient__identity"), pk=message_id)
    box = message.mailbox  # select_related: no query
    if box is not None and not selectors.user_mailboxes(request.user).filter(pk=box.pk).exists():
        raise PermissionDenied("Ce message appartient à une autre boîte aux lettres.")
    return message


def message_view(request: HttpRequest, message_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    message = _message_for(request, message_id)
    if not message.is_read:
        message.is_read = True
        message.save(update_fields=["is_read"])
        # SC.MSS/UX.33/34: the read receipt the sender asked for (RFC 8098 "displayed"; mdn_send checks the request).
        if not message.from_patient:
            mdn_send(inbound=message, disposition="displayed")
    documents = list(message.documents.select_related("patient__identity", "document"))
    patient = message.patient or next((d.patient for d in documents if d.patient is not None), None)
    known = (
        Correspondent.objects.filter(mss_address__iexact=message.sender, patients__patient=patient).exists()
        if patient is not None
        else True
    )
    audit_record(
        actor=request.user,
        action="mss.message.read",
        object_type="inbound_message",
        object_id=message.pk,
        patient_id=patient.pk if patient else None,  # a message not matched to a patient yet names none
        request=request,
    )
    return render(
        request,
        "mss/message.html",
        {
            "message": message,
            "subject": display_subject(message.subject),
            "documents": documents,
            "patient": patient,
            "can_add_correspondent": patient is not None and not message.from_patient and not known,
        },
    )


@require_POST
def add_correspondent_view(request: HttpRequest, message_id: int) -> HttpResponse:
    """ANNU/GEN.03: the sender of a received document joins the patient's correspondents in one click."""
    check_permission(request.user, Perm.CLINICAL_WRITE)
    message = _message_for(request, message_id)
    patient = _patient(request.POST.get("patient"))
    correspondent_from_sender(
        actor=request.user,
        patient=patient,
        address=message.sender,
        name=message.sender_name,
        directory_entry=DirectoryEntry.objects.filter(address=message.sender.strip().lower()).first(),
    )
    messages.success(request, f"{message.sender_name or message.sender} ajouté aux correspondants du patient.")
    return redirect("mss:message", message.pk)


def worklist_view(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    rescore_worklist()  # UX.15: the identity changes since the documents were scored, pulled before listing
    rows = selectors.worklist()
    ids = {c.get("patient") for r in rows for c in r.candidates}
    patients = Patient.objects.select_related("identity").in_bulk([i for i in ids if isinstance(i, int)])
    audit_record(actor=request.user, action="mss.worklist", object_type="received_document", request=request)
    return render(
        request,
        "mss/worklist.html",
        {
            "rows": [
                (
                    r,
                    [(patients[c["patient"]], c) for c in r.candidates if c.get("patient") in patients][:3],
                )
                for r in rows
            ],
            "limit": selectors.LIST_LIMIT,
        },
    )


@require_POST
def attach_view(request: HttpRequest, received_id: int) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_WRITE)
    received = get_object_or_404(ReceivedDocument, pk=received_id, state=ReceivedDocument.State.WORKLIST)
    patient = _patient(request.POST.get("patient"))
    document = worklist_attach(actor=request.user, received=received, patient=patient)
    messages.success(request, f"« {document.title} » rattaché au dossier de {patient.identity}.")
    return redirect("mss:worklist")


def sent_view(request: HttpRequest) -> HttpResponse:
    check_permission(request.user, Perm.CLINICAL_READ)
    rows = selectors.sent_messages(request.user)
    return render(
        request,
        "mss/sent.html",
        {
            "rows": [(m, display_subject(m.subject), selectors.state_label(m.state, m.state_reason)) for m in rows],
            "limit": selectors.LIST_LIMIT,
        },
    )


DIRECTORY_PAGE = 10  # entries shown per page of the Annuaire search on the "Envoyer" form
DIRECTORY_COUNT_CAP = 200  # counted up to this; beyond, "plus de 200": the search should be narrowed


@dataclass(frozen=True)
class DirectoryPage:
    """One page of the Annuaire search, with what the form says about it (issue 13 §3: it said nothing when nothing
    was found and stopped silently at 10)."""

    entries: list[DirectoryEntry] = field(default_factory=list)
    total: int = 0  # capped at DIRECTORY_COUNT_CAP + 1
    page: int = 0
    too_short: bool = False

    @property
    def first(self) -> int:
        return self.page * DIRECTORY_PAGE + 1

    @property
    def last(self) -> int:
        return self.page * DIRECTORY_PAGE + len(self.entries)

    @property
    def has_next(self) -> bool:
        return self.last < min(self.total, DIRECTORY_COUNT_CAP)

    @property
    def summary(self) -> str:
        if self.too_short:
            return "Tapez au moins 3 lettres du nom (puis, si besoin, une ville ou une spécialité)."
        if self.total == 0:
            return "Aucun correspondant trouvé dans l'annuaire : vérifiez l'orthographe, ou cherchez sans ville."
        count = f"plus de {DIRECTORY_COUNT_CAP}" if self.total > DIRECTORY_COUNT_CAP else str(self.total)
        found = f"{count} correspondant{'s' if self.total > 1 else ''} trouvé{'s' if self.total > 1 else ''}"
        shown = f" — {self.first} à {self.last} affichés" if self.total > len(self.entries) else ""
        narrow = " ; précisez la ville ou la spécialité" if self.total > DIRECTORY_COUNT_CAP else ""
        return f"{found}{shown}{narrow}."


def _directory_lookup(query: str, page: int = 0) -> DirectoryPage | None:
    """ "ler lyon" or "ler cardio": three letters of the name, then a city or a specialty (seed 000: the same search
    the seed product offers behind five clicks). None when nothing was searched; otherwise a page of 10 with the
    number found (counted up to 200) so that the form can say "aucun" or offer the next page."""
    words = query.split()
    if not words:
        return None
    if len(words[0]) < 3:
        return DirectoryPage(too_short=True)
    name, rest = words[0], " ".join(words[1:])
    entries = directory_query(name, city=rest) if rest else directory_query(name)
    if rest and (entries is None or not entries.exists()):
        entries = directory_query(name, specialty=rest)
    if entries is None:
        return DirectoryPage(too_short=True)
    total = entries[: DIRECTORY_COUNT_CAP + 1].count()
    page = max(0, min(page, max(0, (min(total, DIRECTORY_COUNT_CAP) - 1) // DIRECTORY_PAGE)))
    shown = list(entries[page * DIRECTORY_PAGE : (page + 1) * DIRECTORY_PAGE])
    # The key joins nom and prénom ("MARTINEZLUIS" < "MARTINPAUL"); within the page, show nom then prénom.
    shown.sort(
        key=lambda e: (search_key(e.family_name) or e.search_name, search_key(e.given_name), e.search_name, e.pk)
    )
    return DirectoryPage(entries=shown, total=total, page=page)


def _preselected(patient: Patient, documents: list[Document], author: object) -> dict[str, str]:
    """The recipients' roles to pre-tick, each with why (shown next to the box, issue 13 §3), per the arrêté of 26
    April 2022 (documents/sharing_matrix.py): the médecin traitant when the document must go to the professionals and
    the author is not the médecin traitant; the patient ONLY when the arrêté's matrix asks for a send to the patient
    for this document, and it is not hidden from them (regles-gestion-mssante.md: INVISIBLE_PATIENT ⇒ no send to the
    patient's mailbox). Nothing else is pre-ticked: a letter outside the matrix, or no document, ticks no one."""
    author_is_mt = getattr(author, "pk", None) == patient.medecin_traitant_id
    roles: dict[str, str] = {}
    for d in documents:
        on = d.effective_at.date()
        if mss_to_medecin_traitant_default(d.type_code, d.type_code_system, on, author_is_mt=author_is_mt):
            roles.setdefault(
                CorrespondentRole.MEDECIN_TRAITANT, mss_ps_default_reason(d.type_code, d.type_code_system, on)
            )
        reason = mss_patient_default_reason(d.type_code, d.type_code_system, on)
        if reason and not d.dmp_invisible_patient:
            roles.setdefault("patient", reason)
    return roles


REPLACED_ROLE = "version_precedente"


def _replaced_message(documents: list[Document]) -> OutboundMessage | None:
    """The last message that carried a previous version of one of these documents (SC.MSS "Annule et remplace")."""
    previous = [d.replaces_id for d in documents if d.replaces_id is not None]
    if not previous:
        return None
    return OutboundMessage.objects.filter(documents__in=previous).order_by("-created_at", "-id").first()


def compose_view(request: HttpRequest) -> HttpResponse:
    """ "Envoyer": GET shows the form with recipients pre-proposed (and pre-ticked per the arrêté); POST sends, one
    patient per message. Recipients chosen from the Annuaire join the patient's correspondents (ANNU/GEN.03)."""
    check_permission(request.user, Perm.CLINICAL_WRITE)
    data = request.POST if request.method == "POST" else request.GET
    patient = _patient(data.get("patient"))
    # Only documents the sender may open (confidentiality R/V, issue 6 §2).
    visible = visible_documents(request.user, Document.objects.filter(patient=patient))
    # Ids in the database's range only: a 25-digit id overflowed the query (issue 13 §4).
    documents = list(visible.filter(pk__in=[i for i in map(parse_id, data.getlist("document")) if i is not None]))
    if request.method == "GET":  # the form shows the patient's identity and documents: a read of the record
        audit_patient_read(request, "mss.compose", patient.pk)
    proposed = proposed_recipients(patient, request.user)  # type: ignore[arg-type]
    roles = _preselected(patient, documents, request.user)
    # A corrected document whose previous version went by MSSanté: "Annule et remplace" to the same recipients.
    replaced = _replaced_message(documents)
    # Each pre-ticked address with why it is ticked (issue 13 §3: the patient is never ticked by chance).
    ticked = {r.address: roles[r.role] for r in proposed if r.role in roles}
    if replaced is not None:
        earlier = list(replaced.recipients.all())
        known = {r.address.lower() for r in proposed}
        proposed += [
            Recipient(r.address, r.display_name or r.address, REPLACED_ROLE, "Destinataire de la version précédente")
            for r in earlier
            if r.address.lower() not in known
        ]
        for r in earlier:  # the corrected version reaches whoever received the wrong one
            ticked.setdefault(r.address, "Destinataire de la version précédente (annule et remplace)")
    query = data.get("recherche", "")[:100]
    wanted_page = data.get("page_annuaire", "")
    directory_page = int(wanted_page) if wanted_page.isascii() and wanted_page.isdigit() and len(wanted_page) < 4 else 0
    if "chercher" in data:  # a new search starts on its first page
        directory_page = 0
    found_page = _directory_lookup(query, directory_page)
    found = found_page.entries if found_page is not None else []
    if request.method == "POST" and "envoyer" in request.POST:
        chosen = list(dict.fromkeys(a.strip() for a in request.POST.getlist("destinataire") if a.strip()))
        chosen += [a.strip() for a in request.POST.get("autre", "").split(",") if a.strip() and a.strip() not in chosen]
        attached = list(documents)
        if request.POST.get("joindre_vsm") == "1":
            summary = visible.filter(model__in=SUMMARY_MODELS).order_by("-created_at").first()
            if summary is not None and summary not in attached:
                attached.append(summary)
        try:
            message = mss_send(
                actor=request.user,
                patient=patient,
                documents=attached,
                recipients=chosen,
                body=request.POST.get("corps", ""),
                subject=request.POST.get("objet", ""),  # used without documents (with them: XDM/1.0/DDM+…)
                end_conversation=request.POST.get("fin") == "1",
                replaces=replaced,
                request=request,
            )
        except MssServiceError as exc:
            messages.error(request, str(exc))
        else:
            for entry in DirectoryEntry.objects.filter(address__in=chosen):
                correspondent = correspondent_from_directory(entry=entry, actor=request.user, request=request)
                correspondent_join_care_team(  # offered again next time, with the role his profession suggests
                    actor=request.user,
                    patient=patient,
                    correspondent=correspondent,
                    role=role_for_profession(entry.profession, entry.specialty),
                    request=request,
                )
            messages.success(request, f"Message mis en envoi ({message.recipients.count()} destinataire(s)).")
            return redirect("patients:chart", patient.pk)
    checked = set(request.POST.getlist("destinataire")) if request.method == "POST" else None
    return render(
        request,
        "mss/compose.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "documents": documents,
            "offer_summary": not any(d.model in SUMMARY_MODELS for d in documents),
            "replaced": replaced,
            "proposed": [
                (r, r.address in (checked if checked is not None else ticked), ticked.get(r.address, ""))
                for r in proposed
            ],
            "patient_address": patient_mss_address(patient.identity),
            "query": query,
            "found": [(e, checked is not None and e.address in checked) for e in found],
            "found_page": found_page,
            # Addresses ticked on another page of the search stay ticked (shown, so that nothing goes unseen).
            "kept": [
                a
                for a in (checked or ())
                if a not in {r.address for r in proposed} and a not in {e.address for e in found}
            ],
            "mailbox": mailbox_for(request.user),  # type: ignore[arg-type]
            "subject_max": SUBJECT_MAX,
        },
    )


def conversation_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The conversation with one patient through Mon espace santé (issue 13 §3): the messages sent to them and their
    answers, oldest first; write a new message (with its subject) or « Mettre fin à la conversation »."""
    check_permission(request.user, Perm.CLINICAL_READ)
    patient = get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)
    address = patient_mss_address(patient.identity)
    status = 200
    if request.method == "POST":
        check_permission(request.user, Perm.CLINICAL_WRITE)
        try:
            mss_send(
                actor=request.user,
                patient=patient,
                recipients=[],
                to_patient=True,
                subject=request.POST.get("objet", ""),
                body=request.POST.get("corps", ""),
                request=request,
            )
        except MssServiceError as exc:
            messages.error(request, str(exc))
            status = 400  # the form comes back with what was typed
        else:
            messages.success(request, "Message mis en envoi au patient.")
            return redirect("mss:conversation", patient.pk)
    else:
        audit_patient_read(request, "mss.conversation", patient.pk)
    return render(
        request,
        "mss/conversation.html",
        {
            "patient": patient,
            "identity": patient.identity,
            "patient_address": address,
            "conversation": patient_conversation(request.user, patient),
            "can_write": has_permission(request.user, Perm.CLINICAL_WRITE),
            "mailbox": mailbox_for(request.user),  # type: ignore[arg-type]
            "subject_max": SUBJECT_MAX,
            "typed": request.POST if status == 400 else {},
        },
        status=status,
    )


@require_POST
def conversation_end_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    """« Mettre fin à la conversation »: its own action, one click (SC.MSS/CONF.21, X-MSS-MES: FIN)."""
    check_permission(request.user, Perm.CLINICAL_WRITE)
    patient = get_object_or_404(Patient.objects.select_related("identity"), pk=patient_id)
    try:
        mss_conversation_end(actor=request.user, patient=patient, request=request)
    except MssServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Conversation close : le patient ne peut plus répondre à vos messages.")
    return redirect("mss:conversation", patient.pk)


@require_POST
def test_message_view(request: HttpRequest) -> HttpResponse:
    """The "message de test" to the citizen test address (one of the three proofs of the Prestation Ségur)."""
    check_permission(request.user, Perm.CLINICAL_WRITE)
    try:
        message = mss_send_test_message(actor=request.user)
    except MssServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Message de test mis en envoi vers {message.recipients.get().address}.")
    return redirect("mss:sent")


@require_POST
def sync_view(request: HttpRequest) -> HttpResponse:
    """ "Relever": synchronise the user's mailboxes now (the worker also does it in the background)."""
    check_permission(request.user, Perm.CLINICAL_READ)
    total = 0
    for mailbox in selectors.user_mailboxes(request.user):
        result = sync_mailbox(mailbox)
        total += result.fetched
        if result.error:
            messages.error(request, f"{mailbox.address} : {result.error}")
    messages.success(request, f"{total} nouveau(x) message(s).")
    return redirect("mss:inbox")


def mailboxes_view(request: HttpRequest) -> HttpResponse:
    """The practice's MSSanté mailboxes (administrator): list and declare — a professional's PER box, the practice's
    ORG box, an APP box (same service as `caducee mss boite`)."""
    check_permission(request.user, Perm.PRACTICE_MANAGE)
    status = 200
    if request.method == "POST":
        owner_id = parse_id(request.POST.get("utilisateur", ""))
        owner = User.objects.filter(pk=owner_id, is_active=True).first() if owner_id is not None else None
        try:
            # The columns' lengths (issue 13 §4: a 201-character name was a 500 on PostgreSQL).
            for field, (label, value) in {
                "address": ("Adresse MSSanté", request.POST.get("adresse", "").strip()),
                "display_name": ("Nom affiché", request.POST.get("nom", "").strip()),
            }.items():
                if error := too_long(value, model_max_length(Mailbox, field)):
                    raise MssServiceError(f"{label} : {error}")
            mailbox = mailbox_declare(
                actor=request.user,
                address=request.POST.get("adresse", ""),
                kind=request.POST.get("type", MailboxKind.PER),
                owner=owner,
                display_name=request.POST.get("nom", "").strip(),
                active=request.POST.get("active") == "1",
                request=request,
            )
        except MssServiceError as exc:
            messages.error(request, str(exc))
            status = 400  # the form comes back with what was typed
        else:
            messages.success(request, f"Boîte {mailbox.address} enregistrée.")
            return redirect("mss:mailboxes")
    return render(
        request,
        "mss/mailboxes.html",
        {
            "mailboxes": Mailbox.objects.select_related("owner").order_by("kind", "address"),
            "kinds": MailboxKind.choices,
            "professionals": User.objects.filter(is_active=True, role__in=CLINICAL_ROLES).order_by("last_name"),
            "typed": request.POST if status == 400 else {},
        },
        status=status,
    )
