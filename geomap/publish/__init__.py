"""The publishing part: the self-contained HTML service map (:mod:`.maps`, browser code in ``assets/``) and
the print poster (:mod:`.poster`)."""
