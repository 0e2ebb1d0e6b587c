#pragma once

// Java's Float.toString / Double.toString layout (JDK 19+, shortest round-trip digits):
// "1.5", "100.0", "1.0E10", "1.0E-4", "-0.0", "NaN", "Infinity". Canal renders FLOAT, DOUBLE
// and JSON doubles this way.

#include <string>

namespace canal {

void appendJavaDouble(std::string& out, double value);
void appendJavaFloat(std::string& out, float value);

}  // namespace canal
