"""Portraits: a photo checked for face quality and kept as an avatar to animate.

``photo`` reads any image safely, ``faces`` finds the one face and its landmarks, ``checks`` grades
the portrait (usable / warnings / rejected), ``avatars`` stores checked portraits with their framing.
"""
