"""aistack reference backend: a small FastAPI AI service shaped like the seeds' apps."""

__version__ = "1.0.0"
