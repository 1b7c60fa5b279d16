"use strict";
require("./cache.js").restore();
