"""Model code and measuring tools for the book Backbones, executed."""
