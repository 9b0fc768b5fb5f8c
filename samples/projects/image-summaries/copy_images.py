"""Copies the required images to new files in the run folder."""

import shutil

shutil.copyfile("favicon.png", "favicon-copy.png")
shutil.copyfile("heart.jpg", "heart-copy.jpg")
