"""Labels: continuous traces at the frame rate, label maps and annotator fusion."""
