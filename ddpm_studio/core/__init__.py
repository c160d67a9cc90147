"""The Qt-free numeric core: schedules, diffusion maths, models, data, training and sampling."""
