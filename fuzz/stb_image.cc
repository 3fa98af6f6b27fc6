// stb_image's implementation, compiled into the targets that decode images (fuzz/CMakeLists.txt
// says why not from libstb): the header Debian's libstb is built from, with its defaults.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
