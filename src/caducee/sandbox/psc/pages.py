"""The wallet's HTML pages: the e-CPS approval stand-in, the error page, the logged-out page.

French, no script and no inline style (the CSS is a file the sandbox serves, /wallet/wallet.css), every value
escaped. The approval page says plainly that it is a sandbox: a real login goes through the e-CPS app or a CPS card.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from caducee.sandbox.psc.directory import display_name, profession_label

CSS = """
body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;color:#1b1b1b}
header{border-bottom:3px solid #000091;margin-bottom:1.5em}
h1{font-size:1.5em;color:#000091}
.bac{background:#fff4e5;border:1px solid #e0a400;padding:.6em 1em;border-radius:4px}
.erreur{background:#fee;border:1px solid #c00;color:#900;padding:.6em 1em;border-radius:4px}
label{display:block;font-weight:bold;margin:1em 0 .3em}
input[type=text]{font-size:1.1em;padding:.4em;width:16em}
.actions{margin:1.5em 0;display:flex;gap:1em}
button{font-size:1em;padding:.6em 1.2em;border-radius:4px;border:1px solid #000091;cursor:pointer}
button.valider{background:#000091;color:#fff}
button.refuser{background:#fff;color:#000091}
table{border-collapse:collapse;margin-top:.5em}
td,th{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left}
code{font-size:1.05em}
""".strip()

_BANNER = (
    '<p class="bac">Bac à sable Caducée : ceci n\'est <strong>pas</strong> Pro Santé Connect. '
    "Aucune e-CPS ni carte CPS n'est demandée ; les professionnels proposés sont fictifs.</p>"
)


def _page(title: str, body: str, css_url: str) -> bytes:
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{html.escape(title)} – Pro Santé Connect (bac à sable)</title>"
        f'<link rel="stylesheet" href="{html.escape(css_url)}"></head><body>'
        f"<header><h1>{html.escape(title)}</h1></header>{_BANNER}{body}</body></html>"
    ).encode()


def approval_page(
    *,
    action: str,
    css_url: str,
    form_token: str,
    client_id: str,
    redirect_uri: str,
    national_id: str,
    professionals: list[dict[str, Any]],
    error: str = "",
) -> bytes:
    """The e-CPS approval stand-in: the national id (typed, or picked from the sandbox's professionals)
    and two buttons, « Valider sur mon e-CPS » and « Refuser »."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(display_name(p))}</td><td>{esc(profession_label(p))}</td>"
        f"<td><code>{esc(str(p['SubjectNameID']))}</code></td></tr>"
        for p in professionals
    )
    options = "".join(
        f'<option value="{esc(str(p["SubjectNameID"]))}">{esc(display_name(p))}</option>' for p in professionals
    )
    host = urlsplit(redirect_uri).netloc
    body = (
        (f'<p class="erreur" role="alert">{esc(error)}</p>' if error else "")
        + f"<p>L'application <strong>{esc(client_id)}</strong> ({esc(host)}) demande à vous identifier.</p>"
        + f'<form method="post" action="{esc(action)}">'
        + f'<input type="hidden" name="form_token" value="{esc(form_token)}">'
        + '<label for="national_id">Identifiant national (RPPS préfixé de 8)</label>'
        + f'<input type="text" id="national_id" name="national_id" value="{esc(national_id)}" list="professionnels"'
        + ' autocomplete="off" inputmode="numeric" maxlength="20">'
        + f'<datalist id="professionnels">{options}</datalist>'
        + '<div class="actions"><button type="submit" name="decision" value="approve" class="valider">'
        + "Valider sur mon e-CPS</button>"
        + '<button type="submit" name="decision" value="deny" class="refuser">Refuser</button></div></form>'
        + "<h2>Professionnels du bac à sable</h2>"
        + "<table><thead><tr><th>Nom</th><th>Profession</th><th>Identifiant national</th></tr></thead>"
        + f"<tbody>{rows}</tbody></table>"
    )
    return _page("Connexion avec Pro Santé Connect", body, css_url)


def error_page(message: str, css_url: str) -> bytes:
    body = f'<p class="erreur" role="alert">{html.escape(message)}</p><p>Revenez à l\'application et recommencez.</p>'
    return _page("Erreur Pro Santé Connect", body, css_url)


def logged_out_page(css_url: str) -> bytes:
    return _page("Déconnexion", "<p>Vous êtes déconnecté de Pro Santé Connect.</p>", css_url)


def unavailable_page(css_url: str) -> bytes:
    return _page(
        "Service indisponible", '<p class="erreur">Pro Santé Connect est momentanément indisponible.</p>', css_url
    )
