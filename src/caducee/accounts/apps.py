from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "caducee.accounts"
    label = "accounts"
    verbose_name = "Comptes et structure"
