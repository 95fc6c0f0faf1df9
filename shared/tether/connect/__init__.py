"""Connect: the end user's side of Tether. Short-lived connect sessions a tenant's backend
opens for one end user (:mod:`.sessions`, tokens in :mod:`.tokens`), and the hosted page and
embed script that use them (:mod:`.page`, the files in ``assets/``)."""
