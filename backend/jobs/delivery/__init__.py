"""The delivery-status job: what became of each sent message (DESIGN section 7), from provider callbacks
(`events`), polls (`poll`), its store queries (`store`) and writes (`writes`), run by `status.DeliveryStatusJob`."""
