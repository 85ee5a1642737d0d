// replace me: list your own test files in meson.build and delete this file
