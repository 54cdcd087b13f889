from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("contact/", views.ContactView.as_view(), name="contact"),
    path("thanks/", views.ThanksView.as_view(), name="thanks"),
    path("account/", views.account, name="account"),
    path("about/", views.about, name="about"),
]
