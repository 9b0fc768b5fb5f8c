from setuptools import find_packages, setup

setup(
    name="guild-tensorboard",
    version="0.1.0",
    description="Guild AI's TensorBoard runs monitor, without Guild",
    packages=find_packages(include=["guild", "guild.*"]),
    python_requires=">=3.9",
    install_requires=[
        "tensorboard>=2.16",
        "protobuf>=4",
        "Pillow>=9",
        "PyYAML>=5",
        "google-crc32c>=1.5",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "hypothesis>=6",
            "websocket-client>=1.6",
            "nbclient>=0.9",
            "nbformat>=5.9",
            "ipykernel>=6.25",
        ],
        "notebook": ["ipython>=8"],
    },
    entry_points={
        "console_scripts": ["guild-tensorboard = guild.tensorboard_cmd:main"],
    },
)
