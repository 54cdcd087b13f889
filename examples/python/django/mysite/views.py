import sqlite3

from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.db import connection
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.generic import FormView, TemplateView

from .forms import AccountForm, ContactForm


def home(request):
    # The session is a signed cookie: it survives whatever instance serves
    # the next request.
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    return render(request, "mysite/home.html", {"visits": visits})


class ContactView(FormView):
    template_name = "mysite/contact.html"
    form_class = ContactForm
    success_url = reverse_lazy("thanks")

    def form_valid(self, form):
        self.request.session["contact_name"] = form.cleaned_data["name"]
        return super().form_valid(form)


class ThanksView(TemplateView):
    template_name = "mysite/thanks.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["name"] = self.request.session.get("contact_name", "stranger")
        return context


def account(request):
    """Hashes a password with Django's default hasher (PBKDF2-SHA256,
    1,500,000 iterations), as signing up would, and checks it back."""
    result = None
    form = AccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        password = form.cleaned_data["password"]
        encoded = make_password(password)
        result = {
            "algorithm": identify_hasher(encoded).algorithm,
            "iterations": encoded.split("$")[1],
            "verified": check_password(password, encoded),
            "wrong_rejected": not check_password(password + "!", encoded),
        }
    return render(request, "mysite/account.html", {"form": form, "result": result})


def about(request):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS hits (at TEXT)")
        cursor.execute("INSERT INTO hits VALUES (datetime('now'))")
        cursor.execute("SELECT count(*) FROM hits")
        (hits,) = cursor.fetchone()
    return render(
        request,
        "mysite/about.html",
        {"sqlite": sqlite3.sqlite_version, "hits": hits},
    )
