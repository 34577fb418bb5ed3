"""Dashboard control forms: they only parse input; the services decide."""

from django import forms

REASON_HELP = "Why: recorded in the audit trail."


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, strip=True, help_text=REASON_HELP)

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if not reason:
            raise forms.ValidationError("a reason is required")
        return reason


class PauseEntriesForm(ReasonForm):
    """Pause the whole account, or one symbol for a number of minutes (a timed lock)."""

    symbol = forms.CharField(max_length=32, required=False, strip=True)
    minutes = forms.IntegerField(required=False, min_value=1, max_value=7 * 24 * 60)

    def clean(self):
        data = super().clean()
        if data.get("symbol") and not data.get("minutes"):
            self.add_error("minutes", "a symbol lock needs a duration in minutes")
        if data.get("minutes") and not data.get("symbol"):
            self.add_error("symbol", "minutes only apply to a symbol lock; name the symbol")
        return data


class CommentForm(forms.Form):
    comment = forms.CharField(max_length=1000, required=False, strip=True)


class OrderFilterForm(forms.Form):
    """Filters of the orders page; a bad value is reported, never a 500."""

    symbol = forms.CharField(max_length=32, required=False, strip=True)
    side = forms.ChoiceField(choices=[("", "any side"), ("buy", "buy"), ("sell", "sell")], required=False)
    status = forms.ChoiceField(choices=[], required=False)
    strategy = forms.CharField(max_length=64, required=False, strip=True)
    page = forms.IntegerField(min_value=1, required=False)

    def __init__(self, *args, **kwargs):
        from trading.models import OrderStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "any status"), *OrderStatus.choices]
