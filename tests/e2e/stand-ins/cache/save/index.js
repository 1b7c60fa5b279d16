"use strict";
require("../cache.js").save();
